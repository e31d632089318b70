package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unicode/utf8"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/internal/shape"
	"github.com/shear-ai/shear/simd"
)

// The dtypes Shear reads and writes.
const (
	F32  = "F32"
	F16  = "F16"
	BF16 = "BF16"
)

// MaxHeader is the largest header accepted (the reference implementation's
// limit).
const MaxHeader = 100 << 20

// ElemSize is the size in bytes of one element of dtype, or 0 if the dtype
// is not supported.
func ElemSize(dtype string) int {
	switch dtype {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

func checkDType(dtype string) error {
	if ElemSize(dtype) == 0 {
		return fmt.Errorf("dtype %q is not supported (Shear reads and writes F32, F16 and BF16)", dtype)
	}
	return nil
}

// Tensor is one named tensor: dtype, shape (row-major, outermost first) and
// its little-endian bytes.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// Elements is the product of the shape (1 for a scalar).
func (t *Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file (or a merged set of shards).
type File struct {
	Tensors  []Tensor // in data-offset order
	Metadata map[string]string
	index    map[string]int
}

// Tensor returns the tensor with the given name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

func (f *File) buildIndex() {
	f.index = make(map[string]int, len(f.Tensors))
	for i := range f.Tensors {
		f.index[f.Tensors[i].Name] = i
	}
}

// Read reads and validates the safetensors file at path.
func Read(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("safetensors: %s is a directory, not a .safetensors file", path)
	}
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse validates and parses a whole safetensors file held in b. The
// returned tensors' Data are slices of b.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, too short for the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	rest := uint64(len(b) - 8)
	if n > MaxHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit (not a safetensors file?)", n, MaxHeader)
	}
	if n > rest {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes that follow it (truncated or not a safetensors file)", n, rest)
	}
	if n < 2 {
		return nil, fmt.Errorf("safetensors: header length %d is too short for a JSON object", n)
	}
	header, data := b[8:8+n], b[8+n:]
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	// The tensors must tile the data section: in offset order, no overlap,
	// no gap, nothing after the last one.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].offsets[0] < entries[j].offsets[0] })
	f := &File{Metadata: meta, Tensors: make([]Tensor, 0, len(entries))}
	pos, prev := int64(0), ""
	for _, e := range entries {
		if err := checkDType(e.dtype); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", e.name, err)
		}
		n, err := shape.Product(e.shape...)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v: %v", e.name, e.shape, err)
		}
		elems := uint64(n)
		begin, end := e.offsets[0], e.offsets[1]
		if end < begin {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] are not an ascending pair", e.name, begin, end)
		}
		if uint64(end) > uint64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] run past the %d-byte data section", e.name, begin, end, len(data))
		}
		size := elems * uint64(ElemSize(e.dtype))
		if size != uint64(end-begin) {
			return nil, fmt.Errorf("safetensors: tensor %q: %s %v needs %d bytes but data_offsets [%d, %d] span %d", e.name, e.dtype, e.shape, size, begin, end, end-begin)
		}
		switch {
		case begin < pos:
			return nil, fmt.Errorf("safetensors: tensors %q and %q overlap in the data section (at byte %d)", prev, e.name, begin)
		case begin > pos:
			return nil, fmt.Errorf("safetensors: bytes %d..%d of the data section belong to no tensor (before %q)", pos, begin, e.name)
		}
		pos, prev = end, e.name
		shape := make([]int, len(e.shape))
		for i, d := range e.shape {
			shape[i] = int(d)
		}
		f.Tensors = append(f.Tensors, Tensor{Name: e.name, DType: e.dtype, Shape: shape, Data: data[begin:end:end]})
	}
	if pos != int64(len(data)) {
		return nil, fmt.Errorf("safetensors: the data section has %d bytes after the last tensor", int64(len(data))-pos)
	}
	f.buildIndex()
	return f, nil
}

type headerEntry struct {
	name    string
	dtype   string
	shape   []int64
	offsets [2]int64
}

// parseHeader reads the JSON header token by token, so that duplicate keys,
// trailing garbage and every missing field give a precise error.
func parseHeader(h []byte) ([]headerEntry, map[string]string, error) {
	if !utf8.Valid(h) {
		return nil, nil, errors.New("safetensors: header is not valid UTF-8")
	}
	// Trailing spaces pad the header; anything else after the object is an error.
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	bad := func(err error) error {
		return fmt.Errorf("safetensors: header is not well-formed JSON: %v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, bad(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("safetensors: header is not a JSON object")
	}
	seen := map[string]bool{}
	var entries []headerEntry
	var meta map[string]string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad(err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, bad(fmt.Errorf("object key %v is not a string", tok))
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("safetensors: header has the key %q twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, bad(fmt.Errorf("__metadata__: %v", err))
			}
			if raw == nil {
				return nil, nil, errors.New("safetensors: __metadata__ is not an object of strings")
			}
			meta = make(map[string]string, len(raw))
			for k, v := range raw {
				s, ok := v.(string)
				if !ok {
					return nil, nil, fmt.Errorf("safetensors: __metadata__[%q] is not a string", k)
				}
				meta[k] = s
			}
			continue
		}
		var info struct {
			DType       *string        `json:"dtype"`
			Shape       *[]json.Number `json:"shape"`
			DataOffsets *[]json.Number `json:"data_offsets"`
		}
		if err := dec.Decode(&info); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: header entry is not an object with dtype, shape and data_offsets: %v", name, err)
		}
		switch {
		case info.DType == nil:
			return nil, nil, fmt.Errorf("safetensors: tensor %q: dtype is missing", name)
		case info.Shape == nil:
			return nil, nil, fmt.Errorf("safetensors: tensor %q: shape is missing", name)
		case info.DataOffsets == nil:
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets is missing", name)
		case len(*info.DataOffsets) != 2:
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets has %d entries, want 2", name, len(*info.DataOffsets))
		case len(*info.Shape) > 8:
			return nil, nil, fmt.Errorf("safetensors: tensor %q: shape has %d dimensions", name, len(*info.Shape))
		}
		e := headerEntry{name: name, dtype: *info.DType}
		for _, d := range *info.Shape {
			v, err := d.Int64()
			if err != nil {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: shape entry %s is not an integer", name, d)
			}
			e.shape = append(e.shape, v)
		}
		for i, d := range *info.DataOffsets {
			v, err := d.Int64()
			if err != nil || v < 0 {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets entry %s is not a non-negative integer", name, d)
			}
			e.offsets[i] = v
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("safetensors: header has data after its JSON object")
	}
	return entries, meta, nil
}

// Float32 decodes the tensor to float32 (F32, F16 or BF16).
func (t *Tensor) Float32() ([]float32, error) {
	if err := checkDType(t.DType); err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	n := len(t.Data) / ElemSize(t.DType)
	if n*ElemSize(t.DType) != len(t.Data) || n != t.Elements() {
		return nil, fmt.Errorf("safetensors: tensor %q: %d bytes do not hold %s %v", t.Name, len(t.Data), t.DType, t.Shape)
	}
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case F16:
		h := make([]uint16, n)
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(d[2*i:])
		}
		simd.F16ToF32(out, h)
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	}
	return out, nil
}

// FromFloat32 builds a tensor of the given dtype from float32 values
// (F16 and BF16 round to nearest even).
func FromFloat32(name string, shape []int, v []float32, dtype string) (Tensor, error) {
	t := Tensor{Name: name, DType: dtype, Shape: append([]int(nil), shape...)}
	if err := checkDType(dtype); err != nil {
		return t, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if t.Elements() != len(v) {
		return t, fmt.Errorf("safetensors: tensor %q: %d values for shape %v", name, len(v), shape)
	}
	switch dtype {
	case F32:
		t.Data = make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
		}
	case F16:
		h := make([]uint16, len(v))
		simd.F32ToF16(h, v)
		t.Data = make([]byte, 2*len(v))
		for i, x := range h {
			binary.LittleEndian.PutUint16(t.Data[2*i:], x)
		}
	case BF16:
		t.Data = make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], toBF16(x))
		}
	}
	return t, nil
}

// toBF16 rounds a float32 to bfloat16, to nearest even; NaN stays NaN.
func toBF16(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40 // quiet NaN
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}
