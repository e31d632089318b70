// Package tensor holds Shear's weight matrices: row-major rows × cols in
// one of seven storage types (F32, F16, Q8_0, Q4_0 and the K-quants Q4_K,
// Q5_K, Q6_K), with the products the
// forward and backward passes need. Computation is always float32; the
// storage type only decides how weights are read.
package tensor

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/simd"
)

// DType is a weight storage type.
type DType uint8

const (
	F32 DType = iota
	F16
	Q8_0
	Q4_0
	// The K-quants are read from GGUF files (llama.cpp's Q4_K_M, Q5_K_M…)
	// and multiplied on their blocks; Shear does not quantize to them.
	Q4_K
	Q5_K
	Q6_K
)

var dtypeNames = [...]string{"f32", "f16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"}

func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", d)
}

// ParseDType parses "f32", "f16", "q8_0", "q4_0", "q4_k", "q5_k" or "q6_k".
func ParseDType(s string) (DType, error) {
	for i, n := range dtypeNames {
		if n == s {
			return DType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q (want f32, f16, q8_0, q4_0, q4_k, q5_k or q6_k)", s)
}

// Quantized reports whether d is a block-quantized type.
func (d DType) Quantized() bool { return d >= Q8_0 && int(d) < len(dtypeNames) }

// kType is the quant package's K-quant type of d, if d is one.
func (d DType) kType() (quant.KType, bool) {
	switch d {
	case Q4_K:
		return quant.Q4_K, true
	case Q5_K:
		return quant.Q5_K, true
	case Q6_K:
		return quant.Q6_K, true
	}
	return 0, false
}

// DTypeOfGGUF is the storage type that holds GGUF tensor type t as it is,
// if there is one.
func DTypeOfGGUF(t gguf.TensorType) (DType, bool) {
	for d := range DType(len(dtypeNames)) {
		if d.GGUFType() == t {
			return d, true
		}
	}
	return 0, false
}

// GGUFType is the matching GGUF tensor type.
func (d DType) GGUFType() gguf.TensorType {
	return [...]gguf.TensorType{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K}[d]
}

// Matrix is a rows × cols row-major weight. Exactly one of F32, F16, Q
// holds the data, according to DType.
type Matrix struct {
	Rows, Cols int
	DType      DType
	F32        []float32
	F16        []uint16 // IEEE half bits
	Q          []byte   // GGUF blocks, row after row
}

// Scratch is per-caller working memory for quantized products (the
// activations quantized to Q8_0). The zero value is ready to use.
type Scratch struct{ xq []byte }

func (s *Scratch) bytes(n int) []byte {
	if cap(s.xq) < n {
		s.xq = make([]byte, n)
	}
	return s.xq[:n]
}

// New converts a float32 rows × cols matrix to the given storage type. It
// refuses data whose stored form is not finite: a NaN or ±Inf, or a value
// beyond the type's range (f16's ±65504, or a quantized block's f16 scale).
func New(rows, cols int, data []float32, dt DType) (*Matrix, error) {
	m, err := newMatrix(rows, cols, data, dt)
	if err != nil {
		return nil, err
	}
	if i := FirstNonFinite(dt.GGUFType(), m.storage()); i >= 0 {
		return nil, fmt.Errorf("tensor: element %d (%g) is not finite stored as %s (NaN, ±Inf or beyond the type's range)", i, data[i], dt)
	}
	return m, nil
}

func newMatrix(rows, cols int, data []float32, dt DType) (*Matrix, error) {
	if len(data) != rows*cols {
		return nil, fmt.Errorf("tensor: %d values for a %d×%d matrix", len(data), rows, cols)
	}
	m := &Matrix{Rows: rows, Cols: cols, DType: dt}
	switch dt {
	case F32:
		m.F32 = append([]float32(nil), data...)
	case F16:
		m.F16 = make([]uint16, len(data))
		simd.F32ToF16(m.F16, data)
	case Q8_0, Q4_0:
		if cols%quant.BlockSize != 0 {
			return nil, fmt.Errorf("tensor: %s needs a column count divisible by %d, got %d", dt, quant.BlockSize, cols)
		}
		if dt == Q8_0 {
			m.Q = make([]byte, rows*quant.RowBytesQ8_0(cols))
			quant.QuantizeQ8_0(m.Q, data)
		} else {
			m.Q = make([]byte, rows*quant.RowBytesQ4_0(cols))
			quant.QuantizeQ4_0(m.Q, data)
		}
	case Q4_K, Q5_K, Q6_K:
		return nil, fmt.Errorf("tensor: Shear does not quantize to %s (it reads and runs %s files, e.g. from llama.cpp's llama-quantize); use q8_0 or q4_0", dt, dt)
	default:
		return nil, fmt.Errorf("tensor: unknown dtype %d", dt)
	}
	return m, nil
}

// rowBytes is the encoded size of one row.
func (m *Matrix) rowBytes() int {
	switch m.DType {
	case F32:
		return 4 * m.Cols
	case F16:
		return 2 * m.Cols
	case Q8_0:
		return quant.RowBytesQ8_0(m.Cols)
	case Q4_0:
		return quant.RowBytesQ4_0(m.Cols)
	}
	k, _ := m.DType.kType()
	return k.RowBytes(m.Cols)
}

// Bytes is the storage size of the matrix.
func (m *Matrix) Bytes() int { return m.Rows * m.rowBytes() }

// Row writes row i as float32 into dst (len Cols).
func (m *Matrix) Row(i int, dst []float32) {
	c := m.Cols
	switch m.DType {
	case F32:
		copy(dst[:c], m.F32[i*c:(i+1)*c])
	case F16:
		simd.F16ToF32(dst[:c], m.F16[i*c:(i+1)*c])
	case Q8_0:
		rb := quant.RowBytesQ8_0(c)
		quant.DequantizeQ8_0(dst[:c], m.Q[i*rb:(i+1)*rb])
	case Q4_0:
		rb := quant.RowBytesQ4_0(c)
		quant.DequantizeQ4_0(dst[:c], m.Q[i*rb:(i+1)*rb])
	case Q4_K, Q5_K, Q6_K:
		k, _ := m.DType.kType()
		rb := k.RowBytes(c)
		k.Dequantize(dst[:c], m.Q[i*rb:(i+1)*rb])
	}
}

// Float32 returns the whole matrix as float32 (a copy).
func (m *Matrix) Float32() []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for i := 0; i < m.Rows; i++ {
		m.Row(i, out[i*m.Cols:])
	}
	return out
}

// Convert returns the matrix in another storage type (the receiver is
// returned unchanged when the type already matches).
func (m *Matrix) Convert(dt DType) (*Matrix, error) {
	if dt == m.DType {
		return m, nil
	}
	return New(m.Rows, m.Cols, m.Float32(), dt)
}

// MatMul computes out[n×Rows] = x[n×Cols] · mᵀ. With n == 1 it is a
// matrix-vector product. s is needed only for quantized storage.
func (m *Matrix) MatMul(out, x []float32, n int, s *Scratch) {
	r, c := m.Rows, m.Cols
	if len(x) < n*c || len(out) < n*r {
		panic(fmt.Sprintf("tensor: MatMul %d×%d with n=%d: x has %d, out has %d", r, c, n, len(x), len(out)))
	}
	x, out = x[:n*c], out[:n*r]
	switch m.DType {
	case F32:
		if n == 1 {
			simd.MatVec(out, m.F32, x, r, c)
		} else {
			simd.MatMul(out, x, m.F32, n, r, c)
		}
	case F16:
		if n == 1 {
			simd.MatVecF16(out, m.F16, x, r, c)
		} else {
			simd.MatMulF16(out, x, m.F16, n, r, c)
		}
	case Q8_0:
		xq := s.bytes(n * quant.RowBytesQ8_0(c))
		if n == 1 {
			quant.MatVecQ8_0(out, m.Q, x, r, c, xq)
		} else {
			quant.MatMulQ8_0(out, x, m.Q, n, r, c, xq)
		}
	case Q4_0:
		xq := s.bytes(n * quant.RowBytesQ8_0(c))
		if n == 1 {
			quant.MatVecQ4_0(out, m.Q, x, r, c, xq)
		} else {
			quant.MatMulQ4_0(out, x, m.Q, n, r, c, xq)
		}
	case Q4_K, Q5_K, Q6_K:
		k, _ := m.DType.kType()
		quant.MatMulK(k, out, x, m.Q, n, r, c, s.bytes(n*quant.RowBytesQ8_K(c)))
	}
}

// FromGGUF decodes a 2-D GGUF tensor (dims [cols, rows]) into the storage
// type dt. Quantized tensors are kept as blocks when dt matches their type.
// A tensor already stored as dt is not copied: the matrix views the file's
// buffer (one model's memory to load a model, not two), so writing into
// the matrix writes into that buffer.
func FromGGUF(f *gguf.File, t *gguf.TensorInfo, dt DType) (*Matrix, error) {
	if len(t.Dims) != 2 {
		return nil, fmt.Errorf("tensor %q: want 2 dimensions, has %v", t.Name, t.Dims)
	}
	cols, rows := int(t.Dims[0]), int(t.Dims[1])
	raw := f.TensorData(t)
	if err := CheckFinite(t.Name, t.Type, raw); err != nil {
		return nil, err
	}
	m := &Matrix{Rows: rows, Cols: cols}
	if _, isK := dt.kType(); isK && t.Type == dt.GGUFType() && cols%quant.SuperBlockSize != 0 {
		return nil, fmt.Errorf("tensor %q: %s rows of %d values are not whole %d-value super-blocks", t.Name, t.Type, cols, quant.SuperBlockSize)
	}
	switch {
	case dt.Quantized() && t.Type == dt.GGUFType():
		m.DType, m.Q = dt, raw[:len(raw):len(raw)]
		return m, nil
	case t.Type == gguf.F16 && dt == F16:
		m.DType = F16
		if len(raw) > 0 && uintptr(unsafe.Pointer(&raw[0]))%2 == 0 {
			m.F16 = unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), rows*cols)
			return m, nil
		}
		m.F16 = make([]uint16, rows*cols)
		for i := range m.F16 {
			m.F16[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		}
		return m, nil
	case t.Type == gguf.F32 && dt == F32 && len(raw) > 0 && uintptr(unsafe.Pointer(&raw[0]))%4 == 0:
		m.DType, m.F32 = F32, unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), rows*cols)
		return m, nil
	}
	data, err := decodeFloat32(t, raw)
	if err != nil {
		return nil, err
	}
	if (dt == Q8_0 || dt == Q4_0) && cols%quant.BlockSize != 0 {
		dt = F16 // llama.cpp does the same for rows that are not whole blocks
	}
	m, err = New(rows, cols, data, dt)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return m, nil
}

// DecodeFloat32 decodes any supported GGUF tensor to float32, refusing
// one with a NaN or ±Inf.
func DecodeFloat32(f *gguf.File, t *gguf.TensorInfo) ([]float32, error) {
	raw := f.TensorData(t)
	if err := CheckFinite(t.Name, t.Type, raw); err != nil {
		return nil, err
	}
	return decodeFloat32(t, raw)
}

// decodeFloat32 decodes raw bytes already checked for finiteness.
func decodeFloat32(t *gguf.TensorInfo, raw []byte) ([]float32, error) {
	n := int(t.Elements())
	out := make([]float32, n)
	switch t.Type {
	case gguf.F32:
		for i := range out {
			out[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
	case gguf.F16:
		h := make([]uint16, n)
		for i := range h {
			h[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		}
		simd.F16ToF32(out, h)
	case gguf.BF16:
		for i := range out {
			out[i] = math.Float32frombits((uint32(raw[2*i]) | uint32(raw[2*i+1])<<8) << 16)
		}
	case gguf.Q8_0:
		quant.DequantizeQ8_0(out, raw)
	case gguf.Q4_0:
		quant.DequantizeQ4_0(out, raw)
	case gguf.Q4_K:
		quant.DequantizeQ4_K(out, raw)
	case gguf.Q5_K:
		quant.DequantizeQ5_K(out, raw)
	case gguf.Q6_K:
		quant.DequantizeQ6_K(out, raw)
	// Read only: stored as the load's float type (llama-quantize writes
	// Q5_0/Q5_1 for the tensors of a K-quant file whose rows are not whole
	// super-blocks).
	case gguf.Q4_1:
		quant.DequantizeQ4_1(out, raw)
	case gguf.Q5_0:
		quant.DequantizeQ5_0(out, raw)
	case gguf.Q5_1:
		quant.DequantizeQ5_1(out, raw)
	default:
		return nil, fmt.Errorf("tensor %q: type %s is not supported (Shear reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)", t.Name, t.Type)
	}
	return out, nil
}

// View is the matrix's GGUF encoding without a copy: a view of its
// storage, for writers that stream it out. Read it only.
func (m *Matrix) View() []byte { return m.storage() }

// Encode returns the GGUF bytes of the matrix in its storage type.
func (m *Matrix) Encode() []byte {
	switch m.DType {
	case F32:
		b := make([]byte, 4*len(m.F32))
		for i, v := range m.F32 {
			u := math.Float32bits(v)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		}
		return b
	case F16:
		b := make([]byte, 2*len(m.F16))
		for i, v := range m.F16 {
			b[2*i], b[2*i+1] = byte(v), byte(v>>8)
		}
		return b
	}
	return append([]byte(nil), m.Q...)
}

// EncodeFloat32 returns little-endian float32 bytes (for norms and biases).
func EncodeFloat32(v []float32) []byte {
	m := Matrix{DType: F32, F32: v}
	return m.Encode()
}
