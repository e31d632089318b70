package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/shear-ai/shear/runtime/gguf"
)

const snapshotMagic = "SHEARCKPT2\n"

// Array is a named array of a snapshot: float32 Data, or float16 Half
// (a frozen base kept in half precision is saved as it is stored).
type Array struct {
	Name string
	Data []float32
	Half []uint16
}

func (a Array) len() int { return len(a.Data) + len(a.Half) }

func (a Array) dtype() string {
	if a.Half != nil {
		return "f16"
	}
	return ""
}

type snapshotArray struct {
	Name  string `json:"name"`
	Len   int    `json:"len"`
	DType string `json:"dtype,omitempty"` // "" is f32
}

type snapshotHeader struct {
	Meta   json.RawMessage `json:"meta"`
	Arrays []snapshotArray `json:"arrays"`
}

// WriteSnapshot writes meta (as JSON) and the arrays to path atomically:
// a failure never leaves a partial file, and the previous snapshot stays
// until the new one is complete.
func WriteSnapshot(path string, meta any, arrays []Array) error {
	mj, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	h := snapshotHeader{Meta: mj}
	for _, a := range arrays {
		h.Arrays = append(h.Arrays, snapshotArray{a.Name, a.len(), a.dtype()})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		bw.WriteString(snapshotMagic)
		binary.Write(bw, binary.LittleEndian, uint64(len(hdr)))
		bw.Write(hdr)
		var buf [4]byte
		for _, a := range arrays {
			for _, v := range a.Data {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				if _, err := bw.Write(buf[:]); err != nil {
					return err
				}
			}
			for _, v := range a.Half {
				binary.LittleEndian.PutUint16(buf[:2], v)
				if _, err := bw.Write(buf[:2]); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
}

// ReadSnapshot reads a snapshot into meta and into arrays, which must
// match the snapshot's names and lengths in order (a snapshot of another
// run gives an error naming the first mismatch).
func ReadSnapshot(path string, meta any, arrays []Array) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("%s: not a Shear checkpoint", path)
	}
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n > uint64(st.Size()) {
		return fmt.Errorf("%s: corrupt checkpoint header", path)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return fmt.Errorf("%s: truncated checkpoint", path)
	}
	var h snapshotHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%s: corrupt checkpoint header: %v", path, err)
	}
	if len(h.Arrays) != len(arrays) {
		return fmt.Errorf("%s: checkpoint has %d tensors, this run %d (different model or options)", path, len(h.Arrays), len(arrays))
	}
	for k, a := range arrays {
		if h.Arrays[k] != (snapshotArray{a.Name, a.len(), a.dtype()}) {
			return fmt.Errorf("%s: checkpoint tensor %d is %s[%d] %s, this run has %s[%d] %s", path, k,
				h.Arrays[k].Name, h.Arrays[k].Len, dtypeName(h.Arrays[k].DType), a.Name, a.len(), dtypeName(a.dtype()))
		}
	}
	var buf [4]byte
	for _, a := range arrays {
		for i := range a.Data {
			if _, err := io.ReadFull(r, buf[:]); err != nil {
				return fmt.Errorf("%s: truncated checkpoint data", path)
			}
			a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[:]))
		}
		for i := range a.Half {
			if _, err := io.ReadFull(r, buf[:2]); err != nil {
				return fmt.Errorf("%s: truncated checkpoint data", path)
			}
			a.Half[i] = binary.LittleEndian.Uint16(buf[:2])
		}
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: trailing bytes after checkpoint data", path)
	}
	if err := json.Unmarshal(h.Meta, meta); err != nil {
		return fmt.Errorf("%s: checkpoint metadata: %v", path, err)
	}
	return nil
}

func dtypeName(d string) string {
	if d == "" {
		return "f32"
	}
	return d
}

// runMeta is the training loop's part of a checkpoint.
type runMeta struct {
	Step          int        `json:"step"`
	Source        []byte     `json:"source"`
	AdamSteps     int        `json:"adam_steps"`
	RNG           []byte     `json:"rng"`
	DevLossBefore *float64   `json:"dev_loss_before"` // null: no dev set (NaN has no JSON form)
	Log           []StepInfo `json:"log"`
	Stepper       []byte     `json:"stepper,omitempty"` // Config.Stepper's state
}

// StateArrays lists the trainable weights and the optimizer moments, the
// arrays a checkpoint of this trainer holds.
func StateArrays(tr *Trainer, opt *AdamW) []Array {
	var out []Array
	for k, p := range tr.params {
		out = append(out, Array{Name: p.Name, Data: p.W}, Array{Name: p.Name + ".adam_m", Data: opt.M[k]}, Array{Name: p.Name + ".adam_v", Data: opt.V[k]})
	}
	return out
}

// RNGState and SetRNGState save and restore the dropout stream.
func (t *Trainer) RNGState() ([]byte, error)  { return t.pcg.MarshalBinary() }
func (t *Trainer) SetRNGState(b []byte) error { return t.pcg.UnmarshalBinary(b) }

// checkpointArrays are the arrays of a run's checkpoint: the trainer's
// weights, the optimizer's moments and a stepper's own arrays.
func checkpointArrays(tr *Trainer, opt *AdamW, st Stepper) []Array {
	arrays := StateArrays(tr, opt)
	if st != nil {
		arrays = append(arrays, st.Arrays()...)
	}
	return arrays
}

func saveCheckpoint(path string, tr *Trainer, opt *AdamW, src Source, st Stepper, step int, res *Result) error {
	rng, err := tr.RNGState()
	if err != nil {
		return err
	}
	ss, err := src.State()
	if err != nil {
		return err
	}
	meta := runMeta{Step: step, Source: ss, AdamSteps: opt.Steps, RNG: rng, Log: res.Log}
	if !math.IsNaN(res.DevLossBefore) {
		meta.DevLossBefore = &res.DevLossBefore
	}
	if st != nil {
		if meta.Stepper, err = st.State(); err != nil {
			return err
		}
	}
	return WriteSnapshot(path, meta, checkpointArrays(tr, opt, st))
}

func loadCheckpoint(path string, tr *Trainer, opt *AdamW, src Source, st Stepper, res *Result) (int, error) {
	var meta runMeta
	if err := ReadSnapshot(path, &meta, checkpointArrays(tr, opt, st)); err != nil {
		return 0, err
	}
	if err := tr.SetRNGState(meta.RNG); err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	if err := src.SetState(meta.Source); err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	if st != nil {
		if err := st.SetState(meta.Stepper); err != nil {
			return 0, fmt.Errorf("%s: %v", path, err)
		}
	}
	opt.Steps = meta.AdamSteps
	res.DevLossBefore, res.Log = math.NaN(), meta.Log
	if meta.DevLossBefore != nil {
		res.DevLossBefore = *meta.DevLossBefore
	}
	return meta.Step, nil
}
