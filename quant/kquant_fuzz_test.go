package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// The K-quant fuzz targets feed raw bytes as super-blocks: every code and
// 6-bit or int8 sub-block scale, and any f16 d and dmin, NaN and ±Inf
// included (a hostile or corrupt file; the loader refuses non-finite
// scales, the kernels must still agree), against Q8_K activations with
// any float32 scale and codes.

// kFuzzOperands reads data as: format selector, row count (1..3), then
// rows×nb weight super-blocks and nb Q8_K super-blocks, nb as large as
// fits. The Q8_K bsums are recomputed from the codes: they are derived
// data that QuantizeQ8_K always writes consistently.
func kFuzzOperands(data []byte) (f kFormat, w, x []byte, rows, nb int) {
	if len(data) < 2 {
		return kFormats[0], nil, nil, 0, 0
	}
	f, rows, data = kFormats[int(data[0])%len(kFormats)], 1+int(data[1])%3, data[2:]
	nb = len(data) / (rows*f.blockBytes + Q8_KBlockBytes)
	w = data[:rows*nb*f.blockBytes]
	x = append([]byte(nil), data[rows*nb*f.blockBytes:rows*nb*f.blockBytes+nb*Q8_KBlockBytes]...)
	for i := range nb {
		blk := x[i*Q8_KBlockBytes:]
		for g := range 16 {
			var s int16
			for _, c := range blk[4+16*g : 4+16*g+16] {
				s += int16(int8(c))
			}
			binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(s))
		}
	}
	return f, w, x, rows, nb
}

// kFuzzSeeds adds, for each format, random blocks with finite scales and
// the same blocks with a NaN, an Inf and a −Inf scale.
func kFuzzSeeds(f *testing.F) {
	rng := rand.New(rand.NewPCG(31, 32))
	for k, kf := range kFormats {
		for _, nb := range []int{1, 2} {
			rows := 1 + nb%3
			w := randKBlocks(rng, kf, rows*nb)
			x := randQ8K(rng, nb)
			seed := append(append([]byte{byte(k), byte(rows - 1)}, w...), x...)
			f.Add(seed)
			for i, bad := range []uint16{0x7e00, 0x7c00, 0xfc00} {
				s := append([]byte(nil), seed...)
				o := kf.halves[i%len(kf.halves)]
				binary.LittleEndian.PutUint16(s[2+o:], bad)
				f.Add(s)
			}
		}
	}
}

// FuzzKDot: for Q4_K, Q5_K and Q6_K, the assembly row kernels (several
// rows at once) and Dot give the portable kernel's bits on any bytes
// (every NaN counts as one value).
func FuzzKDot(f *testing.F) {
	kFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, w, x, rows, nb := kFuzzOperands(data)
		if nb == 0 {
			return
		}
		rb := nb * kf.blockBytes
		out := make([]float32, rows)
		kf.rows(out, w, rb, x, nb)
		for r := range rows {
			want := kf.generic(w[r*rb:], x, nb)
			if got := kf.dot(w[r*rb:], x, nb); !sameBits(out[r], want) || !sameBits(got, want) {
				t.Fatalf("%s nb=%d row %d: kernel %v (%#x), Dot %v, portable %v (%#x)", kf.name, nb, r,
					out[r], math.Float32bits(out[r]), got, want, math.Float32bits(want))
			}
		}
	})
}

// FuzzKDequant: for Q4_K, Q5_K and Q6_K, dequantization agrees with the
// float64 transcription of ggml's formulas (refDequantK) on any bytes:
// within two float32 roundings where the reference is finite, and the
// same NaN or signed infinity where it is not.
func FuzzKDequant(f *testing.F) {
	kFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, w, _, rows, nb := kFuzzOperands(data)
		if nb == 0 {
			return
		}
		got := make([]float32, rows*nb*SuperBlockSize)
		kf.dequant(got, w)
		for b := range rows * nb {
			blk := w[b*kf.blockBytes:]
			bound := magnitudeBound(kf.name, blk)
			for v, r := range refDequantK(kf.name, blk) {
				g := float64(got[b*SuperBlockSize+v])
				switch {
				case math.IsNaN(r) || math.IsInf(r, 0):
					if !(math.IsNaN(r) && math.IsNaN(g)) && g != r {
						t.Fatalf("%s block %d value %d: %v, float64 reference %v", kf.name, b, v, g, r)
					}
				case math.Abs(g-r) > 3*0x1p-24*(math.Abs(r)+bound):
					t.Fatalf("%s block %d value %d: %v, float64 reference %v", kf.name, b, v, g, r)
				}
			}
		}
	})
}
