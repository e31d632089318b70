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

const checkpointMagic = "SHEARCKPT1\n"

// checkpointHeader is the JSON part of a checkpoint; the float32 arrays
// follow it: for each parameter its weights, then Adam's m and v.
type checkpointHeader struct {
	Step          int        `json:"step"`
	Epoch         int        `json:"epoch"`
	Pos           int        `json:"pos"`
	AdamSteps     int        `json:"adam_steps"`
	RNG           []byte     `json:"rng"`
	DevLossBefore float64    `json:"dev_loss_before"`
	Log           []StepInfo `json:"log"`
	Params        []struct {
		Name string `json:"name"`
		Len  int    `json:"len"`
	} `json:"params"`
}

// saveCheckpoint writes the whole training state atomically.
func saveCheckpoint(path string, tr *Trainer, opt *AdamW, ld *Loader, step int, res *Result) error {
	rng, err := tr.pcg.MarshalBinary()
	if err != nil {
		return err
	}
	h := checkpointHeader{Step: step, Epoch: ld.Epoch, Pos: ld.Pos, AdamSteps: opt.Steps, RNG: rng,
		DevLossBefore: res.DevLossBefore, Log: res.Log}
	for _, p := range tr.params {
		h.Params = append(h.Params, struct {
			Name string `json:"name"`
			Len  int    `json:"len"`
		}{p.Name, len(p.W)})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		bw.WriteString(checkpointMagic)
		binary.Write(bw, binary.LittleEndian, uint64(len(hdr)))
		bw.Write(hdr)
		var buf [4]byte
		for k, p := range tr.params {
			for _, arr := range [][]float32{p.W, opt.M[k], opt.V[k]} {
				for _, v := range arr {
					binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
					if _, err := bw.Write(buf[:]); err != nil {
						return err
					}
				}
			}
		}
		return bw.Flush()
	})
}

// loadCheckpoint restores the state saveCheckpoint wrote, checking that it
// belongs to a run with the same trainable parameters.
func loadCheckpoint(path string, tr *Trainer, opt *AdamW, ld *Loader, res *Result) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != checkpointMagic {
		return 0, fmt.Errorf("%s: not a Shear checkpoint", path)
	}
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n > uint64(st.Size()) {
		return 0, fmt.Errorf("%s: corrupt checkpoint header", path)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, fmt.Errorf("%s: truncated checkpoint", path)
	}
	var h checkpointHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return 0, fmt.Errorf("%s: corrupt checkpoint header: %v", path, err)
	}
	if len(h.Params) != len(tr.params) {
		return 0, fmt.Errorf("%s: checkpoint has %d trainable tensors, this run %d (different model or options)", path, len(h.Params), len(tr.params))
	}
	for k, p := range tr.params {
		if h.Params[k].Name != p.Name || h.Params[k].Len != len(p.W) {
			return 0, fmt.Errorf("%s: checkpoint tensor %d is %s[%d], this run has %s[%d]", path, k, h.Params[k].Name, h.Params[k].Len, p.Name, len(p.W))
		}
	}
	var buf [4]byte
	for k, p := range tr.params {
		for _, arr := range [][]float32{p.W, opt.M[k], opt.V[k]} {
			for i := range arr {
				if _, err := io.ReadFull(r, buf[:]); err != nil {
					return 0, fmt.Errorf("%s: truncated checkpoint data", path)
				}
				arr[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[:]))
			}
		}
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: trailing bytes after checkpoint data", path)
	}
	if err := tr.pcg.UnmarshalBinary(h.RNG); err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	opt.Steps, ld.Epoch, ld.Pos = h.AdamSteps, h.Epoch, h.Pos
	res.DevLossBefore, res.Log = h.DevLossBefore, h.Log
	return h.Step, nil
}
