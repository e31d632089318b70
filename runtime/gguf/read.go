package gguf

import (
	"errors"
	"fmt"
	"math"

	"github.com/shear-ai/shear/runtime/internal/shape"
)

// maxDims is GGML_MAX_DIMS.
const maxDims = 4

// reader is a bounds-checked cursor over the file bytes. The first error
// sticks; later reads return zero values.
type reader struct {
	b   []byte
	off uint64
	err error
	ctx string // what is being read, for error messages
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		msg := fmt.Sprintf(format, args...)
		if r.ctx != "" {
			msg = r.ctx + ": " + msg
		}
		r.err = fmt.Errorf("gguf: %s (at byte %d)", msg, r.off)
	}
}

func (r *reader) remaining() uint64 { return uint64(len(r.b)) - r.off }

func (r *reader) take(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > r.remaining() {
		r.fail("truncated file: %s needs %d bytes, %d left", what, n, r.remaining())
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	if s := r.take(1, "u8"); s != nil {
		return s[0]
	}
	return 0
}
func (r *reader) u16() uint16 {
	if s := r.take(2, "u16"); s != nil {
		return le.Uint16(s)
	}
	return 0
}
func (r *reader) u32() uint32 {
	if s := r.take(4, "u32"); s != nil {
		return le.Uint32(s)
	}
	return 0
}
func (r *reader) u64() uint64 {
	if s := r.take(8, "u64"); s != nil {
		return le.Uint64(s)
	}
	return 0
}

func (r *reader) str() string {
	n := r.u64()
	if r.err != nil {
		return ""
	}
	if n > r.remaining() {
		r.fail("string length %d exceeds the %d bytes left in the file (truncated or corrupt)", n, r.remaining())
		return ""
	}
	return string(r.take(n, "string"))
}

// Parse parses a GGUF file held in memory. The returned File refers to b
// for tensor data.
func Parse(b []byte) (*File, error) {
	r := &reader{b: b}
	if len(b) < 4 || string(b[:4]) != Magic {
		n := min(len(b), 4)
		return nil, fmt.Errorf("gguf: bad magic %q: not a GGUF file", b[:n])
	}
	r.off = 4
	f := &File{Version: r.u32(), kvIndex: map[string]int{}, tensorIndex: map[string]int{}, data: b}
	if r.err == nil && (f.Version < 2 || f.Version > 3) {
		return nil, fmt.Errorf("gguf: unsupported version %d (Shear reads versions 2 and 3)", f.Version)
	}
	nTensors := r.u64()
	nKV := r.u64()
	if r.err != nil {
		return nil, r.err
	}
	// Each KV needs at least 8 (key length) + 4 (type) bytes, each tensor
	// info at least 8 + 4 + 4 + 8: reject counts the file cannot hold.
	if nKV > r.remaining()/12 {
		return nil, fmt.Errorf("gguf: metadata count %d is impossible for a %d-byte file", nKV, len(b))
	}
	if nTensors > r.remaining()/24 {
		return nil, fmt.Errorf("gguf: tensor count %d is impossible for a %d-byte file", nTensors, len(b))
	}
	f.KV = make([]KV, 0, nKV)
	for i := uint64(0); i < nKV; i++ {
		r.ctx = fmt.Sprintf("metadata entry %d", i)
		key := r.str()
		r.ctx = fmt.Sprintf("metadata %q", key)
		kv := KV{Key: key, Type: ValueType(r.u32())}
		kv.Value, kv.ArrayType = r.value(kv.Type)
		if r.err != nil {
			return nil, r.err
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("gguf: duplicate metadata key %q", key)
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, kv)
	}
	r.ctx = ""
	f.Alignment = DefaultAlignment
	if kv, ok := f.Get("general.alignment"); ok {
		a, ok := toInt(kv.Value)
		if !ok || a <= 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf: general.alignment %v is not a positive power of two", kv.Value)
		}
		f.Alignment = uint64(a)
	}
	f.Tensors = make([]TensorInfo, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		r.ctx = fmt.Sprintf("tensor info %d", i)
		t := TensorInfo{Name: r.str()}
		r.ctx = fmt.Sprintf("tensor %q", t.Name)
		nDims := r.u32()
		if r.err == nil && (nDims == 0 || nDims > maxDims) {
			r.fail("%d dimensions (must be 1..%d)", nDims, maxDims)
		}
		if r.err != nil {
			return nil, r.err
		}
		t.Dims = make([]uint64, nDims)
		for d := range t.Dims {
			if t.Dims[d] = r.u64(); t.Dims[d] == 0 {
				r.fail("dimension %d is 0", d)
			}
		}
		n, err := shape.Product(t.Dims...)
		if err != nil {
			r.fail("%v", err)
		}
		elems := uint64(n)
		t.Type = TensorType(r.u32())
		t.Offset = r.u64()
		if r.err != nil {
			return nil, r.err
		}
		size, err := t.Type.Bytes(elems)
		if err != nil {
			return nil, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
		t.Size = size
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("gguf: tensor %q: offset %d is not aligned to %d", t.Name, t.Offset, f.Alignment)
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return nil, fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
		}
		f.tensorIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	r.ctx = ""
	f.DataStart = alignUp(r.off, f.Alignment)
	if len(f.Tensors) > 0 && f.DataStart > uint64(len(b)) {
		return nil, fmt.Errorf("gguf: truncated file: tensor data section starts at byte %d of %d", f.DataStart, len(b))
	}
	dataLen := uint64(len(b)) - min(f.DataStart, uint64(len(b)))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return nil, fmt.Errorf("gguf: tensor %q (%s, %d bytes at data offset %d) extends past the end of the file (data section is %d bytes): truncated or corrupt",
				t.Name, t.Type, t.Size, t.Offset, dataLen)
		}
	}
	return f, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// value reads one value of type t. For arrays it also returns the element type.
func (r *reader) value(t ValueType) (any, ValueType) {
	switch t {
	case TypeUint8:
		return r.u8(), 0
	case TypeInt8:
		return int8(r.u8()), 0
	case TypeUint16:
		return r.u16(), 0
	case TypeInt16:
		return int16(r.u16()), 0
	case TypeUint32:
		return r.u32(), 0
	case TypeInt32:
		return int32(r.u32()), 0
	case TypeFloat32:
		return math.Float32frombits(r.u32()), 0
	case TypeBool:
		v := r.u8()
		if v > 1 {
			r.fail("bool value %d is neither 0 nor 1", v)
		}
		return v == 1, 0
	case TypeString:
		return r.str(), 0
	case TypeUint64:
		return r.u64(), 0
	case TypeInt64:
		return int64(r.u64()), 0
	case TypeFloat64:
		return math.Float64frombits(r.u64()), 0
	case TypeArray:
		et := ValueType(r.u32())
		n := r.u64()
		if r.err != nil {
			return nil, et
		}
		return r.array(et, n), et
	}
	r.fail("unknown value type %d", uint32(t))
	return nil, 0
}

func (r *reader) array(et ValueType, n uint64) any {
	if et == TypeArray {
		r.fail("nested arrays are not supported")
		return nil
	}
	size := uint64(et.scalarSize())
	if et == TypeString {
		size = 8 // every string has at least its length
	}
	if size == 0 {
		r.fail("unknown array element type %d", uint32(et))
		return nil
	}
	if n > r.remaining()/size {
		r.fail("array of %d %s elements exceeds the %d bytes left in the file (truncated or corrupt)", n, et, r.remaining())
		return nil
	}
	switch et {
	case TypeString:
		out := make([]string, n)
		for i := range out {
			out[i] = r.str()
		}
		return out
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			v, _ := r.value(TypeBool)
			out[i], _ = v.(bool)
		}
		return out
	}
	raw := r.take(n*size, "array")
	if r.err != nil {
		return nil
	}
	return decodeScalars(et, raw, int(n))
}

func decodeScalars(et ValueType, raw []byte, n int) any {
	switch et {
	case TypeUint8:
		return append([]uint8(nil), raw...)
	case TypeInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(raw[i])
		}
		return out
	case TypeUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(raw[2*i:])
		}
		return out
	case TypeInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(raw[2*i:]))
		}
		return out
	case TypeUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(raw[4*i:])
		}
		return out
	case TypeInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(raw[4*i:]))
		}
		return out
	case TypeFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return out
	case TypeUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(raw[8*i:])
		}
		return out
	case TypeInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(raw[8*i:]))
		}
		return out
	case TypeFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return out
	}
	panic(errors.New("gguf: unreachable scalar type"))
}
