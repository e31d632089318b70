package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Builder collects metadata and tensors and writes them as a GGUF v3 file.
// Metadata keeps the order in which it was set.
type Builder struct {
	kv        []KV
	kvIndex   map[string]int
	tensors   []TensorInfo
	data      [][]byte
	Alignment uint64
}

// NewBuilder returns an empty builder with the default alignment.
func NewBuilder() *Builder {
	return &Builder{kvIndex: map[string]int{}, Alignment: DefaultAlignment}
}

// Set sets a metadata value. The value's Go type picks the GGUF type:
// uint8…float64, bool, string, and slices of those.
func (b *Builder) Set(key string, value any) {
	kv := KV{Key: key, Value: value}
	kv.Type, kv.ArrayType = typeOf(value)
	if i, ok := b.kvIndex[key]; ok {
		b.kv[i] = kv
		return
	}
	b.kvIndex[key] = len(b.kv)
	b.kv = append(b.kv, kv)
}

// SetKV copies a pair read from another file, keeping its exact types.
func (b *Builder) SetKV(kv KV) {
	if i, ok := b.kvIndex[kv.Key]; ok {
		b.kv[i] = kv
		return
	}
	b.kvIndex[kv.Key] = len(b.kv)
	b.kv = append(b.kv, kv)
}

// Delete removes a metadata key if present.
func (b *Builder) Delete(key string) {
	i, ok := b.kvIndex[key]
	if !ok {
		return
	}
	b.kv = append(b.kv[:i], b.kv[i+1:]...)
	delete(b.kvIndex, key)
	for j := i; j < len(b.kv); j++ {
		b.kvIndex[b.kv[j].Key] = j
	}
}

// AddTensor appends a tensor. dims are in ggml order (fastest first); data
// must be exactly the encoded size.
func (b *Builder) AddTensor(name string, typ TensorType, dims []uint64, data []byte) error {
	t := TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ}
	size, err := typ.Bytes(t.Elements())
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q: %d bytes given, %s %v needs %d", name, len(data), typ, dims, size)
	}
	t.Size = size
	b.tensors = append(b.tensors, t)
	b.data = append(b.data, data)
	return nil
}

func typeOf(v any) (ValueType, ValueType) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0
	case int8:
		return TypeInt8, 0
	case uint16:
		return TypeUint16, 0
	case int16:
		return TypeInt16, 0
	case uint32:
		return TypeUint32, 0
	case int32:
		return TypeInt32, 0
	case float32:
		return TypeFloat32, 0
	case bool:
		return TypeBool, 0
	case string:
		return TypeString, 0
	case uint64:
		return TypeUint64, 0
	case int64:
		return TypeInt64, 0
	case float64:
		return TypeFloat64, 0
	case []uint8:
		return TypeArray, TypeUint8
	case []int8:
		return TypeArray, TypeInt8
	case []uint16:
		return TypeArray, TypeUint16
	case []int16:
		return TypeArray, TypeInt16
	case []uint32:
		return TypeArray, TypeUint32
	case []int32:
		return TypeArray, TypeInt32
	case []float32:
		return TypeArray, TypeFloat32
	case []bool:
		return TypeArray, TypeBool
	case []string:
		return TypeArray, TypeString
	case []uint64:
		return TypeArray, TypeUint64
	case []int64:
		return TypeArray, TypeInt64
	case []float64:
		return TypeArray, TypeFloat64
	}
	panic(fmt.Sprintf("gguf: unsupported metadata type %T", v))
}

// WriteTo writes the file. It implements io.WriterTo.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriterSize(w, 1<<20)}
	cw.bytes([]byte(Magic))
	cw.u32(3)
	cw.u64(uint64(len(b.tensors)))
	kvs := b.kv
	if b.Alignment != DefaultAlignment {
		kvs = append([]KV{{Key: "general.alignment", Type: TypeUint32, Value: uint32(b.Alignment)}}, kvs...)
	}
	cw.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		cw.str(kv.Key)
		cw.u32(uint32(kv.Type))
		cw.value(kv.Type, kv.ArrayType, kv.Value)
	}
	offset := uint64(0)
	for i := range b.tensors {
		t := &b.tensors[i]
		t.Offset = offset
		cw.str(t.Name)
		cw.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			cw.u64(d)
		}
		cw.u32(uint32(t.Type))
		cw.u64(t.Offset)
		offset = alignUp(offset+t.Size, b.Alignment)
	}
	if len(b.tensors) > 0 {
		cw.pad(b.Alignment)
	}
	for i, d := range b.data {
		cw.bytes(d)
		if i < len(b.data)-1 {
			cw.pad(b.Alignment)
		}
	}
	if cw.err == nil {
		cw.err = cw.w.(*bufio.Writer).Flush()
	}
	return cw.n, cw.err
}

// WriteFile writes the file atomically: to a temporary file in the same
// directory, renamed over path only when complete, so a failure never
// leaves a partial output.
func (b *Builder) WriteFile(path string) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := b.WriteTo(w)
		return err
	})
}

// WriteFileAtomic creates path through a temporary file and a rename.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	// CreateTemp makes the file private; outputs are ordinary files.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// CopyMetadata copies every pair of f into b except those whose key
// satisfies skip (nil skips none), in the file's order.
func (b *Builder) CopyMetadata(f *File, skip func(key string) bool) {
	for _, kv := range f.KV {
		if kv.Key == "general.alignment" || (skip != nil && skip(kv.Key)) {
			continue
		}
		b.SetKV(kv)
	}
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
	buf [8]byte
}

func (c *countingWriter) bytes(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}
func (c *countingWriter) u8(v uint8) { c.bytes([]byte{v}) }
func (c *countingWriter) u16(v uint16) {
	binary.LittleEndian.PutUint16(c.buf[:], v)
	c.bytes(c.buf[:2])
}
func (c *countingWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(c.buf[:], v)
	c.bytes(c.buf[:4])
}
func (c *countingWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(c.buf[:], v)
	c.bytes(c.buf[:8])
}
func (c *countingWriter) str(s string) { c.u64(uint64(len(s))); c.bytes([]byte(s)) }
func (c *countingWriter) pad(a uint64) {
	if r := uint64(c.n) % a; r != 0 {
		c.bytes(make([]byte, a-r))
	}
}

func (c *countingWriter) value(t, et ValueType, v any) {
	switch x := v.(type) {
	case uint8:
		c.u8(x)
	case int8:
		c.u8(uint8(x))
	case uint16:
		c.u16(x)
	case int16:
		c.u16(uint16(x))
	case uint32:
		c.u32(x)
	case int32:
		c.u32(uint32(x))
	case float32:
		c.u32(math.Float32bits(x))
	case bool:
		if x {
			c.u8(1)
		} else {
			c.u8(0)
		}
	case string:
		c.str(x)
	case uint64:
		c.u64(x)
	case int64:
		c.u64(uint64(x))
	case float64:
		c.u64(math.Float64bits(x))
	default:
		c.array(et, v)
	}
}

func (c *countingWriter) array(et ValueType, v any) {
	c.u32(uint32(et))
	switch x := v.(type) {
	case []uint8:
		writeArray(c, et, x)
	case []int8:
		writeArray(c, et, x)
	case []uint16:
		writeArray(c, et, x)
	case []int16:
		writeArray(c, et, x)
	case []uint32:
		writeArray(c, et, x)
	case []int32:
		writeArray(c, et, x)
	case []float32:
		writeArray(c, et, x)
	case []bool:
		writeArray(c, et, x)
	case []string:
		writeArray(c, et, x)
	case []uint64:
		writeArray(c, et, x)
	case []int64:
		writeArray(c, et, x)
	case []float64:
		writeArray(c, et, x)
	default:
		if c.err == nil {
			c.err = fmt.Errorf("gguf: cannot write metadata of type %T", v)
		}
	}
}

func writeArray[T any](c *countingWriter, et ValueType, xs []T) {
	c.u64(uint64(len(xs)))
	for _, x := range xs {
		c.value(et, 0, x)
	}
}
