package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The exact fast kernels (the pure WebAssembly guest's products) give the
// models' bits on every platform, for inputs where a fused and an unfused
// multiply-add differ (mirrorSlice) and where the float64 sum lands on a
// float32 rounding boundary or below the normal range (the slow path).
func TestExactMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
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

			var e, m [4]float32
			kern1x4F16Exact(e[:], x, wh, ld, k)
			kern1x4F16Generic(m[:], x, wh, ld, k)
			sameBits32(t, "kern1x4F16 "+name, m[:], e[:])

			var e3, m3 [3 * 5]float32
			for i := range e3 {
				e3[i] = float32(r.NormFloat64())
			}
			m3 = e3
			acc := trial%2 == 1
			kern3x4Exact(e3[:], 5, x, ld, w, ld, k, acc)
			kern3x4Generic(m3[:], 5, x, ld, w, ld, k, acc)
			sameBits32(t, "kern3x4 "+name, m3[:], e3[:])
		}
	}
}

// A sum that double rounding gets wrong: an accumulator of 1 plus the
// product 2^-24·(1−2^-10+2^-20)·(1+2^-10) = 2^-24 + 2^-54 rounds to
// 1 + 2^-24 in float64, a float32 tie that rounds to even (1), while the
// exact sum rounds up to 1 + 2^-23. The kernels must take the slow path
// there, and for results below the normal float32 range.
func TestExactSlowPath(t *testing.T) {
	if roundsTwice(1+0x1p-24) != 1 || roundsTwice(0x1p-130) != 1 || roundsTwice(-0x1p-127) != 1 {
		t.Fatal("roundsTwice misses a boundary or a tiny sum")
	}
	for _, s := range []float64{1, 1 + 0x1p-23, -3.5, 0x1p-126, math.Inf(1), 1e38} {
		if roundsTwice(s) != 0 {
			t.Fatalf("roundsTwice(%v) = 1", s)
		}
	}
	const want = 1 + 0x1p-23
	xb := float32(0x1p-24 * (1 - 0x1p-10 + 0x1p-20))
	for _, k := range []int{17, 32, 40} {
		// kern3x4: lane 0 of every output sums columns 0, 8, 16, …
		x := make([]float32, 3*k)
		w := make([]float32, 4*k)
		for i := 0; i < 3; i++ {
			x[i*k], x[i*k+8] = 1, xb
		}
		for j := 0; j < 4; j++ {
			w[j*k], w[j*k+8] = 1, 1+0x1p-10
		}
		var e3, m3 [12]float32
		kern3x4Exact(e3[:], 4, x, k, w, k, k, false)
		kern3x4Generic(m3[:], 4, x, k, w, k, k, false)
		sameBits32(t, fmt.Sprintf("kern3x4 boundary k=%d", k), m3[:], e3[:])
		if m3[0] != want {
			t.Fatalf("kern3x4 model gives %v, want the fused %v", m3[0], want)
		}

		// kern1x4F16: lane 0's even-eights chain sums columns 0, 16, 32, …
		wh := make([]uint16, 4*k)
		xf := make([]float32, k)
		xf[0], xf[16] = 1, xb
		for j := 0; j < 4; j++ {
			wh[j*k], wh[j*k+16] = 0x3c00, 0x3c01 // 1 and 1+2^-10
		}
		var e, m [4]float32
		kern1x4F16Exact(e[:], xf, wh, k, k)
		kern1x4F16Generic(m[:], xf, wh, k, k)
		sameBits32(t, fmt.Sprintf("kern1x4F16 boundary k=%d", k), m[:], e[:])
		if k >= 24 && m[0] != want {
			t.Fatalf("kern1x4F16 model gives %v, want the fused %v", m[0], want)
		}
	}
}
