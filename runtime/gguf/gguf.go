// Package gguf reads and writes GGUF files (versions 2 and 3): metadata
// key/value pairs of every GGUF type, tensor infos and aligned tensor data.
//
// The reader never trusts a count or length from the file: every string,
// array and tensor is checked against the bytes that are actually there
// before anything is allocated, so a corrupt file gives an error that names
// the problem instead of a panic or a huge allocation.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/shear-ai/shear/internal/safefile"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// DefaultAlignment is used when general.alignment is absent.
const DefaultAlignment = 32

// ValueType is the type tag of a metadata value.
type ValueType uint32

const (
	TypeUint8 ValueType = iota
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeFloat32
	TypeBool
	TypeString
	TypeArray
	TypeUint64
	TypeInt64
	TypeFloat64
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// scalarSize is the encoded size of a fixed-size value type (0 for string/array).
func (t ValueType) scalarSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// TensorType is ggml's tensor element type.
type TensorType uint32

const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q4_0 TensorType = 2
	Q4_1 TensorType = 3
	Q5_0 TensorType = 6
	Q5_1 TensorType = 7
	Q8_0 TensorType = 8
	Q8_1 TensorType = 9
	Q4_K TensorType = 12
	Q5_K TensorType = 13
	Q6_K TensorType = 14
	BF16 TensorType = 30
)

// typeTraits gives block size (elements) and block bytes for the types
// Shear can hold. Other ggml types are recognised by name only.
var typeTraits = map[TensorType]struct {
	name       string
	blockElems int
	blockBytes int
}{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	Q4_0: {"Q4_0", 32, 18},
	Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22},
	Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34},
	Q8_1: {"Q8_1", 32, 36},
	Q4_K: {"Q4_K", 256, 144},
	Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210},
	BF16: {"BF16", 1, 2},
}

func (t TensorType) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// Bytes returns the encoded size of n elements of type t, or an error if
// the type is unknown or n is not a whole number of blocks.
func (t TensorType) Bytes(n uint64) (uint64, error) {
	tr, ok := typeTraits[t]
	if !ok {
		return 0, fmt.Errorf("unsupported tensor type %s", t)
	}
	if n%uint64(tr.blockElems) != 0 {
		return 0, fmt.Errorf("%d elements is not a multiple of the %s block size %d", n, t, tr.blockElems)
	}
	blocks := n / uint64(tr.blockElems)
	if blocks > math.MaxUint64/uint64(tr.blockBytes) {
		return 0, errors.New("tensor size overflows")
	}
	return blocks * uint64(tr.blockBytes), nil
}

// KV is one metadata pair. Value holds uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64 or float64; arrays hold a
// slice of those ([]string for string arrays). ArrayType is the element
// type of an array value.
type KV struct {
	Key       string
	Type      ValueType
	ArrayType ValueType
	Value     any
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] is the
// fastest-varying (a weight of out×in has Dims = [in, out]).
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   TensorType
	Offset uint64 // relative to the start of the data section
	Size   uint64 // encoded bytes
}

// Elements is the product of the dimensions.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Tensor data is kept as a slice of the input.
type File struct {
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment uint64
	DataStart uint64 // offset of the tensor data section in the file

	kvIndex     map[string]int
	tensorIndex map[string]int
	data        []byte
}

// Open reads and parses the GGUF file at path.
func Open(path string) (*File, error) {
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

// Get returns the metadata pair with the given key.
func (f *File) Get(key string) (KV, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return KV{}, false
	}
	return f.KV[i], true
}

// Tensor returns the tensor info with the given name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the encoded bytes of t (a slice of the file's buffer).
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataStart + t.Offset
	return f.data[start : start+t.Size]
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := kv.Value.(string)
	return s, ok
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := kv.Value.(bool)
	return b, ok
}

// Int returns an integer value of any integer type.
func (f *File) Int(key string) (int64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return toInt(kv.Value)
}

// Float returns a float value (float32 or float64, or an integer).
func (f *File) Float(key string) (float64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	i, ok := toInt(kv.Value)
	return float64(i), ok
}

// Strings returns a string array.
func (f *File) Strings(key string) ([]string, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := kv.Value.([]string)
	return s, ok
}

// Float32s returns a float32 array.
func (f *File) Float32s(key string) ([]float32, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := kv.Value.([]float32)
	return s, ok
}

// Ints returns an array of any integer type as []int64.
func (f *File) Ints(key string) ([]int64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	switch v := kv.Value.(type) {
	case []uint8:
		return convertInts(v), true
	case []int8:
		return convertInts(v), true
	case []uint16:
		return convertInts(v), true
	case []int16:
		return convertInts(v), true
	case []uint32:
		return convertInts(v), true
	case []int32:
		return convertInts(v), true
	case []uint64:
		return convertInts(v), true
	case []int64:
		return v, true
	}
	return nil, false
}

type integer interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64
}

func convertInts[T integer](v []T) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

var le = binary.LittleEndian
