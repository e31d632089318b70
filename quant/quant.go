package quant

import (
	"fmt"
	"math"

	"github.com/x448/float16"
)

// BlockSize is the number of values in one Q8_0 or Q4_0 block.
const BlockSize = 32

// Bytes of one block: an fp16 scale, then the codes.
const (
	Q8_0BlockBytes = 2 + BlockSize   // 34
	Q4_0BlockBytes = 2 + BlockSize/2 // 18
)

// RowBytesQ8_0 is the size in bytes of a row of cols values in Q8_0.
// cols must be a non-negative multiple of BlockSize.
func RowBytesQ8_0(cols int) int {
	checkCols(cols)
	return cols / BlockSize * Q8_0BlockBytes
}

// RowBytesQ4_0 is the size in bytes of a row of cols values in Q4_0.
// cols must be a non-negative multiple of BlockSize.
func RowBytesQ4_0(cols int) int {
	checkCols(cols)
	return cols / BlockSize * Q4_0BlockBytes
}

func checkCols(cols int) {
	if cols < 0 || cols%BlockSize != 0 {
		panic(fmt.Sprintf("quant: %d values is not a whole number of %d-value blocks", cols, BlockSize))
	}
}

// QuantizeQ8_0 quantizes src, len(src) a multiple of BlockSize, into the
// first RowBytesQ8_0(len(src)) bytes of dst, as ggml's quantize_row_q8_0_ref:
// per block d = max|x|/127, q = roundf(x·(1/d)), d stored as fp16.
func QuantizeQ8_0(dst []byte, src []float32) {
	nb := len(src) / BlockSize
	checkCols(len(src))
	dst = dst[:nb*Q8_0BlockBytes]
	if nb > 0 {
		quantizeQ8_0(dst, src, nb)
	}
}

// quantizeQ8_0Generic is the portable Q8_0 quantizer, the reference for the
// assembly one. Non-finite input gives unspecified codes.
func quantizeQ8_0Generic(dst []byte, src []float32, nb int) {
	for b := range nb {
		x := (*[BlockSize]float32)(src[b*BlockSize:])
		blk := (*[Q8_0BlockBytes]byte)(dst[b*Q8_0BlockBytes:])
		d := maxAbs(x) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(blk[:], d)
		for j, v := range x {
			blk[2+j] = byte(int8(roundAway(float32(v * id))))
		}
	}
}

// DequantizeQ8_0 expands len(dst) values, a multiple of BlockSize, from the
// Q8_0 blocks at the start of src: x = q·d.
func DequantizeQ8_0(dst []float32, src []byte) {
	nb := len(dst) / BlockSize
	checkCols(len(dst))
	src = src[:nb*Q8_0BlockBytes]
	for b := range nb {
		blk := (*[Q8_0BlockBytes]byte)(src[b*Q8_0BlockBytes:])
		y := (*[BlockSize]float32)(dst[b*BlockSize:])
		d := half(blk[:])
		for j := range y {
			y[j] = float32(int8(blk[2+j])) * d
		}
	}
}

// QuantizeQ4_0 quantizes src, len(src) a multiple of BlockSize, into the
// first RowBytesQ4_0(len(src)) bytes of dst, as ggml's quantize_row_q4_0_ref:
// per block m is the value of largest magnitude (the first, on ties) with its
// sign, d = m/-8, and each code is min(15, trunc(x·(1/d) + 8.5)).
func QuantizeQ4_0(dst []byte, src []float32) {
	nb := len(src) / BlockSize
	checkCols(len(src))
	dst = dst[:nb*Q4_0BlockBytes]
	for b := range nb {
		x := (*[BlockSize]float32)(src[b*BlockSize:])
		blk := (*[Q4_0BlockBytes]byte)(dst[b*Q4_0BlockBytes:])
		// m is the first value of largest magnitude, with its sign.
		var amax, m float32
		for _, v := range x {
			if v > amax {
				amax, m = v, v
			} else if -v > amax {
				amax, m = -v, v
			}
		}
		d := m / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putHalf(blk[:], d)
		for j := range BlockSize / 2 {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+BlockSize/2] * id)
			// The float to int conversion truncates toward zero, as C's cast.
			// x0 + 8.5 lies in [0.5, 16.5] for finite input.
			q0 := min(15, int32(x0+8.5))
			q1 := min(15, int32(x1+8.5))
			blk[2+j] = byte(q0) | byte(q1)<<4
		}
	}
}

// DequantizeQ4_0 expands len(dst) values, a multiple of BlockSize, from the
// Q4_0 blocks at the start of src.
func DequantizeQ4_0(dst []float32, src []byte) {
	nb := len(dst) / BlockSize
	checkCols(len(dst))
	src = src[:nb*Q4_0BlockBytes]
	for b := range nb {
		blk := (*[Q4_0BlockBytes]byte)(src[b*Q4_0BlockBytes:])
		y := (*[BlockSize]float32)(dst[b*BlockSize:])
		d := half(blk[:])
		for j := range BlockSize / 2 {
			q := blk[2+j]
			y[j] = float32(int32(q&0xF)-8) * d
			y[j+BlockSize/2] = float32(int32(q>>4)-8) * d
		}
	}
}

// maxAbs is max |x|. The running maximum rarely changes, so the branches
// predict well and the loop has no dependency chain through it.
func maxAbs(x *[BlockSize]float32) float32 {
	var amax float32
	for _, v := range x {
		if v > amax {
			amax = v
		} else if -v > amax {
			amax = -v
		}
	}
	return amax
}

// roundAway rounds v, |v| < 2^30, to the nearest integer, halves away from
// zero, as C's roundf. With s = trunc(2v), which is exact, roundf(v) is
// trunc((s + sign(s)) / 2): for v ≥ 0 both are floor(v + 1/2), and the
// negative side mirrors it. Integer ops only, and no branch: signs are
// random.
func roundAway(v float32) int32 {
	s := int32(2 * v)
	return (s + (s>>31 | 1)) / 2
}

// putHalf stores d as an fp16 (round to nearest even) in b[0:2], little-endian.
func putHalf(b []byte, d float32) {
	h := float16.Fromfloat32(d).Bits()
	b[0], b[1] = byte(h), byte(h>>8)
}

// half reads the little-endian fp16 in b[0:2] as a float32.
func half(b []byte) float32 {
	return halfToFloat32(uint16(b[0]) | uint16(b[1])<<8)
}

// halfToFloat32 converts IEEE binary16 bits to float32. It moves the exponent
// and mantissa into float32 position and rebiases; subnormal halves are
// renormalized by one float32 subtraction, which is exact. NaNs keep their
// payload (quieting is left out: a NaN scale makes a NaN result either way).
func halfToFloat32(h uint16) float32 {
	const twoPowMinus14 = 113 << 23 // float32 bits of 2^-14
	u := uint32(h&0x7fff) << 13
	e := u & (0x1f << 23)
	u += (127 - 15) << 23
	switch e {
	case 0x1f << 23: // Inf or NaN
		u += (128 - 16) << 23
	case 0: // zero or subnormal
		u += 1 << 23
		u = math.Float32bits(math.Float32frombits(u) - math.Float32frombits(twoPowMinus14))
	}
	return math.Float32frombits(u | uint32(h&0x8000)<<16)
}
