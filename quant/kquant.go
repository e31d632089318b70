package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// K-quants: GGUF's Q4_K, Q5_K and Q6_K super-block formats (what llama.cpp's
// Q4_K_M and Q5_K_M files hold), byte for byte as ggml lays them out, and
// the Q8_K activation format their dot products run against. See the
// package doc for the layouts and the order of operations.

// SuperBlockSize is the number of values in one K-quant super-block (ggml's QK_K).
const SuperBlockSize = 256

// Bytes of one super-block.
const (
	Q4_KBlockBytes = 2 + 2 + 12 + SuperBlockSize/2                    // 144: d, dmin, scales, qs
	Q5_KBlockBytes = 2 + 2 + 12 + SuperBlockSize/8 + SuperBlockSize/2 // 176: d, dmin, scales, qh, qs
	Q6_KBlockBytes = SuperBlockSize/2 + SuperBlockSize/4 + 16 + 2     // 210: ql, qh, scales, d
	Q8_KBlockBytes = 4 + SuperBlockSize + 2*16                        // 292: d (float32), qs, bsums
)

// RowBytesQ4_K, RowBytesQ5_K, RowBytesQ6_K and RowBytesQ8_K are the sizes of
// a row of cols values, cols a non-negative multiple of SuperBlockSize.
func RowBytesQ4_K(cols int) int { return superBlocks(cols) * Q4_KBlockBytes }
func RowBytesQ5_K(cols int) int { return superBlocks(cols) * Q5_KBlockBytes }
func RowBytesQ6_K(cols int) int { return superBlocks(cols) * Q6_KBlockBytes }
func RowBytesQ8_K(cols int) int { return superBlocks(cols) * Q8_KBlockBytes }

func superBlocks(cols int) int {
	if cols < 0 || cols%SuperBlockSize != 0 {
		panic(fmt.Sprintf("quant: %d values is not a whole number of %d-value super-blocks", cols, SuperBlockSize))
	}
	return cols / SuperBlockSize
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from a
// Q4_K/Q5_K block's 12 scale bytes, as ggml's get_scale_min_k4.
func scaleMinK4(j int, q *[12]byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q4KCodes unpacks a Q4_K block's 256 codes (0..15) in value order: the
// 32 bytes of pair p hold sub-block 2p in their low nibbles, 2p+1 in their
// high nibbles.
func q4KCodes(blk []byte, q *[SuperBlockSize]uint8) {
	for p := range 4 {
		qs := blk[16+32*p : 16+32*p+32]
		for l := range 32 {
			q[64*p+l], q[64*p+32+l] = qs[l]&0xF, qs[l]>>4
		}
	}
}

// q5KCodes unpacks a Q5_K block's 256 codes (0..31): Q4_K's nibbles (at
// offset 48) plus bit j of qh[l] as the fifth bit of value l of sub-block j.
func q5KCodes(blk []byte, q *[SuperBlockSize]uint8) {
	qh := blk[16 : 16+32]
	for p := range 4 {
		qs := blk[48+32*p : 48+32*p+32]
		for l := range 32 {
			q[64*p+l] = qs[l]&0xF | (qh[l]>>(2*p)&1)<<4
			q[64*p+32+l] = qs[l]>>4 | (qh[l]>>(2*p+1)&1)<<4
		}
	}
}

// unpackK45 unpacks a Q5_K block's codes when q5, a Q4_K block's otherwise.
// (A flag, not a function value, so that the caller's array stays on the
// stack.)
func unpackK45(q5 bool, blk []byte, q *[SuperBlockSize]uint8) {
	if q5 {
		q5KCodes(blk, q)
	} else {
		q4KCodes(blk, q)
	}
}

// blockBytesK45 is the block size of Q5_K when q5, of Q4_K otherwise.
func blockBytesK45(q5 bool) int {
	if q5 {
		return Q5_KBlockBytes
	}
	return Q4_KBlockBytes
}

// dequantizeK45 is ggml's dequantize_row_q4_K (q5: _q5_K): d and dmin at
// offsets 0 and 2, the scales at 4, x = (d·sc_j)·q − dmin·m_j, each product
// rounded to float32 on its own.
func dequantizeK45(dst []float32, src []byte, q5 bool) {
	blockBytes := blockBytesK45(q5)
	nb := superBlocks(len(dst))
	src = src[:nb*blockBytes]
	var q [SuperBlockSize]uint8
	for i := range nb {
		blk := src[i*blockBytes : (i+1)*blockBytes]
		d, dmin := half(blk[0:]), half(blk[2:])
		scales := (*[12]byte)(blk[4:])
		unpackK45(q5, blk, &q)
		y := dst[i*SuperBlockSize:]
		for j := range 8 {
			sc, m := scaleMinK4(j, scales)
			dj, mj := d*float32(sc), dmin*float32(m)
			for v := 32 * j; v < 32*j+32; v++ {
				y[v] = float32(dj*float32(q[v])) - mj
			}
		}
	}
}

// DequantizeQ4_K expands len(dst) values, a multiple of SuperBlockSize, from
// the Q4_K blocks at the start of src, as ggml's dequantize_row_q4_K.
func DequantizeQ4_K(dst []float32, src []byte) { dequantizeK45(dst, src, false) }

// DequantizeQ5_K is DequantizeQ4_K for Q5_K blocks.
func DequantizeQ5_K(dst []float32, src []byte) { dequantizeK45(dst, src, true) }

// q6Codes unpacks a Q6_K block's 256 signed 6-bit codes (−32..31) in value
// order, as ggml's dequantize_row_q6_K reads them.
func q6Codes(blk *[Q6_KBlockBytes]byte, q *[SuperBlockSize]int8) {
	for h := range 2 { // two halves of 128 values
		ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
		for l := range 32 {
			q[128*h+l] = int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
			q[128*h+l+32] = int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
			q[128*h+l+64] = int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q[128*h+l+96] = int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
		}
	}
}

// DequantizeQ6_K expands len(dst) values, a multiple of SuperBlockSize, from
// the Q6_K blocks at the start of src, as ggml's dequantize_row_q6_K:
// x = (d·sc)·q with an int8 scale per 16 values.
func DequantizeQ6_K(dst []float32, src []byte) {
	nb := superBlocks(len(dst))
	src = src[:nb*Q6_KBlockBytes]
	var q [SuperBlockSize]int8
	for i := range nb {
		blk := (*[Q6_KBlockBytes]byte)(src[i*Q6_KBlockBytes:])
		d := half(blk[208:])
		q6Codes(blk, &q)
		y := dst[i*SuperBlockSize:]
		for v := range SuperBlockSize {
			y[v] = float32(d*float32(int8(blk[192+v/16]))) * float32(q[v])
		}
	}
}

// QuantizeQ8_K quantizes src, len(src) a multiple of SuperBlockSize, into
// the first RowBytesQ8_K(len(src)) bytes of dst, as ggml's
// quantize_row_q8_K_ref: per super-block, with max the value of largest
// magnitude (the first, on ties), q = min(127, round-half-even(x·(−127/max))),
// d = 1/(−127/max) as float32, and bsums the sums of each 16 codes. An
// all-zero block has d = 0 and zero codes.
func QuantizeQ8_K(dst []byte, src []float32) {
	nb := superBlocks(len(src))
	dst = dst[:nb*Q8_KBlockBytes]
	for i := range nb {
		x := (*[SuperBlockSize]float32)(src[i*SuperBlockSize:])
		blk := (*[Q8_KBlockBytes]byte)(dst[i*Q8_KBlockBytes:])
		var amax, m float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		if amax == 0 {
			clear(blk[:])
			continue
		}
		iscale := -127 / m
		for j, v := range x {
			blk[4+j] = byte(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for g := range 16 {
			var s int16
			for _, c := range blk[4+16*g : 4+16*g+16] {
				s += int16(int8(c))
			}
			binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(s))
		}
		binary.LittleEndian.PutUint32(blk[0:], math.Float32bits(1/iscale))
	}
}

// nearestInt rounds |v| ≤ 2^22 to the nearest integer, halves to even, as
// ggml's nearest_int (float32 addition of 1.5·2^23).
func nearestInt(v float32) int32 {
	u := math.Float32bits(v + 12582912)
	return int32(u&0x007fffff) - 0x00400000
}

// DotQ4_K, DotQ5_K and DotQ6_K are the dot products of nBlocks super-blocks
// of w with nBlocks Q8_K super-blocks of xq; see the package doc for the
// order of operations.
func DotQ4_K(w, xq []byte, nBlocks int) float32 {
	w, xq = w[:nBlocks*Q4_KBlockBytes], xq[:nBlocks*Q8_KBlockBytes]
	if nBlocks == 0 {
		return 0
	}
	return dotQ4_K(w, xq, nBlocks)
}

func DotQ5_K(w, xq []byte, nBlocks int) float32 {
	w, xq = w[:nBlocks*Q5_KBlockBytes], xq[:nBlocks*Q8_KBlockBytes]
	return dotQ5_KGeneric(w, xq, nBlocks)
}

func DotQ6_K(w, xq []byte, nBlocks int) float32 {
	w, xq = w[:nBlocks*Q6_KBlockBytes], xq[:nBlocks*Q8_KBlockBytes]
	if nBlocks == 0 {
		return 0
	}
	return dotQ6_K(w, xq, nBlocks)
}

func q8KCodes(xb *[Q8_KBlockBytes]byte) *[SuperBlockSize]byte {
	return (*[SuperBlockSize]byte)(xb[4:])
}

func q8KScale(xb *[Q8_KBlockBytes]byte) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(xb[0:]))
}

// q8KPairSum is the sum of the 32 codes of sub-block j, from bsums.
func q8KPairSum(xb *[Q8_KBlockBytes]byte, j int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(xb[260+4*j:]))) + int32(int16(binary.LittleEndian.Uint16(xb[262+4*j:])))
}

// dotQ4_KGeneric is the portable Q4_K·Q8_K kernel and the reference the
// assembly must match bit for bit.
func dotQ4_KGeneric(w, x []byte, nb int) float32 { return dotK45(w, x, nb, false) }

// dotQ5_KGeneric is the Q5_K·Q8_K kernel.
func dotQ5_KGeneric(w, x []byte, nb int) float32 { return dotK45(w, x, nb, true) }

// dotK45 is the Q4_K (q5: Q5_K) dot product. Per super-block the integer sums
// isum = Σ_j sc_j·Σ_l q_jl·x_jl and msum = Σ_j m_j·Σ_l x_jl are exact; then
//
//	sum += float32((dw·dx)·isum) − float32((dmin·dx)·msum)
//
// each product and difference rounded to float32, no FMA.
func dotK45(w, x []byte, nb int, q5 bool) float32 {
	blockBytes := blockBytesK45(q5)
	var sum float32
	var q [SuperBlockSize]uint8
	for i := range nb {
		wb := w[i*blockBytes : (i+1)*blockBytes]
		xb := (*[Q8_KBlockBytes]byte)(x[i*Q8_KBlockBytes:])
		xs := q8KCodes(xb)
		unpackK45(q5, wb, &q)
		var s [8]int32
		for j := range s {
			for v := 32 * j; v < 32*j+32; v++ {
				s[j] += int32(q[v]) * int32(int8(xs[v]))
			}
		}
		sum += termK45(wb, xb, &s)
	}
	return sum
}

// termK45 is one super-block's term of the Q4_K/Q5_K dot product from its
// exact sub-block sums s[j] = Σ_l q_jl·x_jl (any kernel's).
func termK45(wb []byte, xb *[Q8_KBlockBytes]byte, s *[8]int32) float32 {
	scales := (*[12]byte)(wb[4:])
	var isum, msum int32
	for j, sj := range s {
		sc, m := scaleMinK4(j, scales)
		isum += int32(sc) * sj
		msum += int32(m) * q8KPairSum(xb, j)
	}
	dx := q8KScale(xb)
	d, dm := half(wb[0:])*dx, half(wb[2:])*dx
	return float32(d*float32(isum)) - float32(dm*float32(msum))
}

// dotQ6_KGeneric is the portable Q6_K·Q8_K kernel: per super-block the
// exact isum = Σ_g sc_g·Σ_{16 values} q·x, then sum += float32((d·dx)·isum).
func dotQ6_KGeneric(w, x []byte, nb int) float32 {
	var sum float32
	var q [SuperBlockSize]int8
	for i := range nb {
		wb := (*[Q6_KBlockBytes]byte)(w[i*Q6_KBlockBytes:])
		xb := (*[Q8_KBlockBytes]byte)(x[i*Q8_KBlockBytes:])
		xs := q8KCodes(xb)
		q6Codes(wb, &q)
		var s [16]int32
		for g := range s {
			for v := 16 * g; v < 16*g+16; v++ {
				s[g] += int32(q[v]) * int32(int8(xs[v]))
			}
		}
		sum += termQ6_K(wb, xb, &s)
	}
	return sum
}

// termQ6_K is one super-block's term of the Q6_K dot product from its exact
// 16-value group sums s[g].
func termQ6_K(wb *[Q6_KBlockBytes]byte, xb *[Q8_KBlockBytes]byte, s *[16]int32) float32 {
	var isum int32
	for g, sg := range s {
		isum += int32(int8(wb[192+g])) * sg
	}
	d := half(wb[208:]) * q8KScale(xb)
	return float32(d * float32(isum))
}

func rowsKGeneric(dot func(w, x []byte, nb int) float32, out []float32, w []byte, rb int, xq []byte, nb int) {
	for r := range out {
		out[r] = dot(w[r*rb:], xq, nb)
	}
}
