package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The fast portable products (kernels_portable.go) against their models
// (kernels_generic.go): the same bits where this build fuses a*b+c, and
// otherwise the difference that rounding each product once more allows.

// mulAdd is the expression the portable kernels use.
//
//go:noinline
func mulAdd(a, b, c float32) float32 { return a*b + c }

// fusedHere reports whether the compiler fused mulAdd: (1+2⁻¹²)² − (1+2⁻¹¹)
// is 2⁻²⁴ exactly, and 0 when the product is rounded first.
func fusedHere() bool {
	a := float32(1 + 0x1p-12)
	return mulAdd(a, a, -(1+0x1p-11)) != 0
}

// closeToModel checks portable against model: identical bits when fused,
// else |portable − model| ≤ 2(k+2)·2⁻²⁴·Σ|x·w| (both are within
// (k+2)·2⁻²⁴·Σ|x·w| of the exact sum, the usual bound for k rounded
// multiply-adds and a reduction tree of depth 3).
func closeToModel(t *testing.T, what string, fused bool, portable, model float32, absSum float64, k int) {
	t.Helper()
	if fused {
		if math.Float32bits(portable) != math.Float32bits(model) && !(portable != portable && model != model) {
			t.Fatalf("%s: portable %v (%#x), model %v (%#x)", what, portable, math.Float32bits(portable), model, math.Float32bits(model))
		}
		return
	}
	if math.IsInf(float64(model), 0) || model != model {
		return // an overflowed sum: its rounding order is not bounded
	}
	bound := 2 * float64(k+2) * 0x1p-24 * absSum
	if d := math.Abs(float64(portable) - float64(model)); !(d <= bound) {
		t.Fatalf("%s: portable %v, model %v: differ by %g > %g", what, portable, model, d, bound)
	}
}

func absDot(x, w []float32) float64 {
	s := 0.0
	for i := range x {
		s += math.Abs(float64(x[i]) * float64(w[i]))
	}
	return s
}

func TestPortableMatchesModel(t *testing.T) {
	fused := fusedHere()
	t.Logf("fused multiply-add in this build: %v", fused)
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range mirrorLens {
		if k == 0 {
			continue
		}
		for trial := range 10 {
			name := fmt.Sprintf("k=%d trial %d", k, trial)
			ld := k + r.IntN(3)
			x := mirrorSlice(r, 3*ld)
			w := mirrorSlice(r, 4*ld)
			wh := make([]uint16, len(w))
			f32ToF16Generic(wh, w)
			wf := make([]float32, len(w))
			f16ToF32Generic(wf, wh)

			var p, m [4]float32
			kern1x4Portable(p[:], x, w, ld, k, false)
			kern1x4Generic(m[:], x, w, ld, k, false)
			for j := range p {
				closeToModel(t, "kern1x4 "+name, fused, p[j], m[j], absDot(x[:k], w[j*ld:j*ld+k]), k)
			}
			kern1x4F16Portable(p[:], x, wh, ld, k)
			kern1x4F16Generic(m[:], x, wh, ld, k)
			for j := range p {
				closeToModel(t, "kern1x4F16 "+name, fused, p[j], m[j], absDot(x[:k], wf[j*ld:j*ld+k]), k)
			}
			dp, dm := dotF16Portable(x[:k], wh[:k]), dotF16Generic(x[:k], wh[:k])
			closeToModel(t, "dotF16 "+name, fused, dp, dm, absDot(x[:k], wf[:k]), k)

			var p3, m3 [3 * 5]float32
			for i := range p3 {
				p3[i] = float32(r.NormFloat64())
			}
			m3 = p3
			acc := trial%2 == 1
			kern3x4Portable(p3[:], 5, x, ld, w, ld, k, acc)
			kern3x4Generic(m3[:], 5, x, ld, w, ld, k, acc)
			for i := 0; i < 3; i++ {
				for j := 0; j < 4; j++ {
					s := absDot(x[i*ld:i*ld+k], w[j*ld:j*ld+k])
					if acc {
						s += math.Abs(float64(m3[i*5+j]))
					}
					closeToModel(t, fmt.Sprintf("kern3x4 %s (%d,%d)", name, i, j), fused, p3[i*5+j], m3[i*5+j], s, k)
				}
			}
		}
	}
}

// The masked tails add a zero product to the lanes past the tail, which
// turns a −0 accumulator (a product that underflowed in a fused
// multiply-add) into +0 in the models; so must the portable code. Without
// fusion the products round to −0 first and the accumulators stay +0.
func TestPortableNegativeZero(t *testing.T) {
	if !fusedHere() {
		t.Skip("the products are not fused in this build: no -0 accumulators")
	}
	for _, k := range []int{1, 5, 9, 17, 24} {
		x := make([]float32, 3*k)
		w := make([]float32, 4*k)
		for i := range x {
			x[i] = -1e-30
		}
		for i := range w {
			w[i] = 1e-30
		}
		var p, m [4]float32
		kern1x4Portable(p[:], x, w, k, k, false)
		kern1x4Generic(m[:], x, w, k, k, false)
		sameBits32(t, fmt.Sprintf("kern1x4 -0 k=%d", k), m[:], p[:])
		var p3, m3 [12]float32
		kern3x4Portable(p3[:], 4, x, k, w, k, k, false)
		kern3x4Generic(m3[:], 4, x, k, w, k, k, false)
		sameBits32(t, fmt.Sprintf("kern3x4 -0 k=%d", k), m3[:], p3[:])
	}
}
