package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/simd"
)

// Finiteness is checked on the encoded bytes, before any decoding, eight
// bytes at a time: a value is NaN or ±Inf exactly when its exponent bits
// are all ones. Masking each lane to its exponent and adding the exponent's
// lowest bit carries into the lane's sign bit only for an all-ones
// exponent (the sum cannot leave the lane), so one AND, one ADD and an OR
// into an accumulator test four halves or two floats. Quantized blocks
// are finite exactly when their f16 scale is (|q| ≤ 127 and a finite f16
// scale keep every product finite in float32).
const (
	f16Exp, f16Low, laneSign16 = 0x7C00_7C00_7C00_7C00, 0x0400_0400_0400_0400, 0x8000_8000_8000_8000
	bf16Exp, bf16Low           = 0x7F80_7F80_7F80_7F80, 0x0080_0080_0080_0080
	f32Exp, f32Low, laneSign32 = 0x7F800000_7F800000, 0x00800000_00800000, 0x80000000_80000000
)

// chunk is how many bytes are OR-ed together before the accumulator is
// tested; a hit is located by scanning that chunk again.
const chunk = 4096

// anyAllOnesExp reports whether a lane of raw (whole 8-byte words only)
// has an all-ones exponent.
func anyAllOnesExp(raw []byte, exp, low, sign uint64) bool {
	var a0, a1, a2, a3 uint64
	le := binary.LittleEndian
	for ; len(raw) >= 32; raw = raw[32:] {
		a0 |= le.Uint64(raw[0:8])&exp + low
		a1 |= le.Uint64(raw[8:16])&exp + low
		a2 |= le.Uint64(raw[16:24])&exp + low
		a3 |= le.Uint64(raw[24:32])&exp + low
	}
	for ; len(raw) >= 8; raw = raw[8:] {
		a0 |= le.Uint64(raw[0:8])&exp + low
	}
	return (a0|a1|a2|a3)&sign != 0
}

// FirstNonFinite returns the index of the first element of raw, encoded as
// typ (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K), that is NaN or
// ±Inf, or -1 when all are finite. For quantized types the index is the first element of the
// block whose scale is not finite. Other types return -1.
func FirstNonFinite(typ gguf.TensorType, raw []byte) int {
	var size int
	var exp, low, sign uint64
	switch typ {
	case gguf.F32:
		size, exp, low, sign = 4, f32Exp, f32Low, laneSign32
	case gguf.F16:
		size, exp, low, sign = 2, f16Exp, f16Low, laneSign16
	case gguf.BF16:
		size, exp, low, sign = 2, bf16Exp, bf16Low, laneSign16
	default:
		if l, ok := scaledBlocks[typ]; ok {
			if b := l.firstBadBlock(raw); b >= 0 {
				return b * l.values
			}
		}
		return -1
	}
	words := len(raw) &^ 7
	for start := 0; start < words; start += chunk {
		end := min(start+chunk, words)
		if anyAllOnesExp(raw[start:end], exp, low, sign) {
			return start/size + firstBad(raw[start:end], size, exp)
		}
	}
	if i := firstBad(raw[words:], size, exp); i >= 0 {
		return words/size + i
	}
	return -1
}

// firstBad scans element by element: the index of the first value of raw
// with an all-ones exponent, or -1.
func firstBad(raw []byte, size int, exp uint64) int {
	for i := 0; i+size <= len(raw); i += size {
		var v uint64
		if size == 4 {
			v = uint64(binary.LittleEndian.Uint32(raw[i:]))
		} else {
			v = uint64(binary.LittleEndian.Uint16(raw[i:]))
		}
		if e := exp & (1<<(8*size) - 1); v&e == e {
			return i / size
		}
	}
	return -1
}

// blockLayout is where a quantized type keeps the f16 scales of a block.
type blockLayout struct {
	bytes, values int
	scales        []int // byte offsets in the block
}

// scaledBlocks are the quantized types: Q8_0, Q4_0 and Q5_0 start each
// block with d, Q4_1 and Q5_1 with d and m; Q4_K and Q5_K start each
// super-block with d and dmin; Q6_K ends it with d. The 6-bit and int8 sub-block scales are integers, and with
// finite f16 scales every value of a block is finite in float32.
var scaledBlocks = map[gguf.TensorType]blockLayout{
	gguf.Q8_0: {quant.RowBytesQ8_0(quant.BlockSize), quant.BlockSize, []int{0}},
	gguf.Q4_0: {quant.RowBytesQ4_0(quant.BlockSize), quant.BlockSize, []int{0}},
	gguf.Q4_1: {quant.Q4_1BlockBytes, quant.BlockSize, []int{0, 2}},
	gguf.Q5_0: {quant.Q5_0BlockBytes, quant.BlockSize, []int{0}},
	gguf.Q5_1: {quant.Q5_1BlockBytes, quant.BlockSize, []int{0, 2}},
	gguf.Q4_K: {quant.Q4_KBlockBytes, quant.SuperBlockSize, []int{0, 2}},
	gguf.Q5_K: {quant.Q5_KBlockBytes, quant.SuperBlockSize, []int{0, 2}},
	gguf.Q6_K: {quant.Q6_KBlockBytes, quant.SuperBlockSize, []int{208}},
}

// firstBadBlock is the index of the first whole block of raw with a NaN
// or ±Inf scale, or -1; badScale is that scale's offset in the block.
func (l blockLayout) firstBadBlock(raw []byte) int {
	b, _ := l.badScale(raw)
	return b
}

func (l blockLayout) badScale(raw []byte) (block, offset int) {
	for b := 0; b+l.bytes <= len(raw); b += l.bytes {
		for _, o := range l.scales {
			if binary.LittleEndian.Uint16(raw[b+o:])&0x7C00 == 0x7C00 {
				return b / l.bytes, o
			}
		}
	}
	return -1, 0
}

// CheckFinite returns an error naming the tensor and the first NaN or
// ±Inf element (or quantized block scale) of raw, encoded as typ.
func CheckFinite(name string, typ gguf.TensorType, raw []byte) error {
	i := FirstNonFinite(typ, raw)
	if i < 0 {
		return nil
	}
	var v float32
	what := fmt.Sprintf("element %d", i)
	switch typ {
	case gguf.F32:
		v = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	case gguf.F16:
		v = half(binary.LittleEndian.Uint16(raw[2*i:]))
	case gguf.BF16:
		v = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
	default:
		l := scaledBlocks[typ]
		b, o := l.badScale(raw)
		v = half(binary.LittleEndian.Uint16(raw[b*l.bytes+o:]))
		scale := "scale"
		if len(l.scales) > 1 {
			scale = [...]string{"scale d", "scale dmin"}[o/2]
			if typ == gguf.Q4_1 || typ == gguf.Q5_1 {
				scale = [...]string{"scale d", "min m"}[o/2]
			}
		}
		what = fmt.Sprintf("the %s of %s block %d (elements %d..%d)", scale, typ, b, i, i+l.values-1)
	}
	return fmt.Errorf("tensor %q: %s is %v: the weights are corrupt (not finite)", name, what, v)
}

func half(h uint16) float32 {
	var v [1]float32
	simd.F16ToF32(v[:], []uint16{h})
	return v[0]
}

// CheckFinite reports the first NaN or ±Inf the matrix stores.
func (m *Matrix) CheckFinite(name string) error {
	return CheckFinite(name, m.DType.GGUFType(), m.storage())
}

// storage is the matrix's encoded bytes, without a copy: F32 and F16 are
// viewed as bytes, which is their GGUF encoding on the little-endian
// machines Go targets here (amd64, arm64, riscv64, wasm).
func (m *Matrix) storage() []byte {
	switch m.DType {
	case F32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m.F32))), 4*len(m.F32))
	case F16:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m.F16))), 2*len(m.F16))
	}
	return m.Q
}
