package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/gguf"
)

// Write writes tensors and metadata to path atomically (a temporary file
// renamed over path when complete).
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	if err := check(tensors); err != nil {
		return err
	}
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		return Encode(w, tensors, metadata)
	})
}

// check validates tensors before anything is written.
func check(tensors []Tensor) error {
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		switch {
		case t.Name == "":
			return fmt.Errorf("safetensors: tensor %d has no name", i)
		case t.Name == "__metadata__":
			return errors.New("safetensors: a tensor cannot be named __metadata__")
		case seen[t.Name]:
			return fmt.Errorf("safetensors: tensor %q is given twice", t.Name)
		}
		seen[t.Name] = true
		if err := checkDType(t.DType); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
		}
		if want := t.Elements() * ElemSize(t.DType); len(t.Data) != want {
			return fmt.Errorf("safetensors: tensor %q: %d bytes given, %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, want)
		}
	}
	return nil
}

// Encode writes a safetensors file to w. Tensors are laid out widest dtype
// first (then in the given order), so each is aligned to its element size.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	if err := check(tensors); err != nil {
		return err
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return ElemSize(tensors[order[a]].DType) > ElemSize(tensors[order[b]].DType)
	})
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	str := func(s string) {
		b, _ := json.Marshal(s) // a string always marshals
		h.Write(b)
	}
	if len(metadata) > 0 {
		comma()
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			str(k)
			h.WriteByte(':')
			str(metadata[k])
		}
		h.WriteByte('}')
	}
	off := 0
	for _, i := range order {
		t := &tensors[i]
		comma()
		str(t.Name)
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			fmt.Fprint(&h, d)
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, off+len(t.Data))
		off += len(t.Data)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(h.Len()))
	bw.Write(n[:])
	bw.Write(h.Bytes())
	for _, i := range order {
		if _, err := bw.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// IndexName is the file name of a sharded checkpoint's index.
const IndexName = "model.safetensors.index.json"

// index is the JSON of model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// ReadIndex reads a sharded checkpoint through its index file (for example
// DIR/model.safetensors.index.json): every shard the weight_map names is read
// and validated, and the tensors are merged into one File. Shards must be
// plain file names in the index's directory; a tensor that the weight_map
// names but its shard lacks is an error. File.Metadata is the first shard's.
func ReadIndex(path string) (*File, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx index
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: not a well-formed index: %v", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: weight_map is missing or empty", path)
	}
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || strings.ContainsAny(shard, `/\`) || shard == "." || shard == ".." {
			return nil, fmt.Errorf("safetensors: %s: tensor %q maps to %q, which is not a file name in the index's directory", path, name, shard)
		}
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	out := &File{}
	dir := filepath.Dir(path)
	for _, s := range shards {
		f, err := Read(filepath.Join(dir, s))
		if err != nil {
			return nil, err
		}
		if out.Metadata == nil {
			out.Metadata = f.Metadata
		}
		names := byShard[s]
		sort.Strings(names)
		for _, name := range names {
			t, ok := f.Tensor(name)
			if !ok {
				return nil, fmt.Errorf("safetensors: %s: weight_map puts tensor %q in %s, which does not have it", path, name, s)
			}
			out.Tensors = append(out.Tensors, *t)
		}
	}
	out.buildIndex()
	return out, nil
}

// WriteSharded writes tensors into dir as shards of at most maxShardBytes
// of data each (a single tensor larger than that gets a shard of its own),
// named model-00001-of-0000K.safetensors, plus the index
// model.safetensors.index.json. It returns the file names written. Each
// file is written atomically; on an error the files already written are
// removed.
func WriteSharded(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) ([]string, error) {
	if err := check(tensors); err != nil {
		return nil, err
	}
	if maxShardBytes <= 0 {
		return nil, fmt.Errorf("safetensors: shard size %d must be positive", maxShardBytes)
	}
	var groups [][]Tensor
	var size, total int64
	for _, t := range tensors {
		n := int64(len(t.Data))
		if len(groups) == 0 || (size+n > maxShardBytes && size > 0) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
		size += n
		total += n
	}
	if len(groups) == 0 {
		groups = append(groups, nil)
	}
	idx := index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	var written []string
	fail := func(err error) ([]string, error) {
		for _, name := range written {
			os.Remove(filepath.Join(dir, name))
		}
		return nil, err
	}
	for i, g := range groups {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		if err := Write(filepath.Join(dir, name), g, metadata); err != nil {
			return fail(err)
		}
		written = append(written, name)
		for _, t := range g {
			idx.WeightMap[t.Name] = name
		}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fail(err)
	}
	b = append(b, '\n')
	err = gguf.WriteFileAtomic(filepath.Join(dir, IndexName), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fail(err)
	}
	return append(written, IndexName), nil
}
