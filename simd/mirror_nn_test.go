package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The NEON kernels of RMSNorm, RoPE and the small-head attention loops
// (nn_arm64.s) against their portable models, bit for bit, through the
// public entry points: on awkward lengths (every remainder of the kernels'
// blocks of four and eight), in place, forward and backward. Builds
// without those kernels skip.

func needNNAsm(t *testing.T) {
	t.Helper()
	if !haveNNAsm || !useAsm {
		t.Skip("no NEON normalisation, RoPE and attention kernels in this build")
	}
}

func TestMirrorRMSNorm(t *testing.T) {
	needNNAsm(t)
	r := rand.New(rand.NewPCG(61, 62))
	for _, n := range mirrorLens {
		for trial := range 6 {
			name := fmt.Sprintf("n=%d trial %d", n, trial)
			x, w := mirrorSlice(r, n), mirrorSlice(r, n)
			if trial%2 == 1 { // no huge values: a finite sum of squares
				for i := range x {
					x[i] = float32(r.NormFloat64() * math.Exp(4*r.NormFloat64()))
				}
			}
			o1, o2 := make([]float32, n), make([]float32, n)
			s1 := RMSNorm(o1, x, w, 1e-5)
			var s2 float32
			generic(func() { s2 = RMSNorm(o2, x, w, 1e-5) })
			sameBits32(t, "RMSNorm scale "+name, []float32{s1}, []float32{s2})
			sameBits32(t, "RMSNorm "+name, o1, o2)
			i1, i2 := append([]float32(nil), x...), append([]float32(nil), x...)
			RMSNorm(i1, i1, w, 1e-6)
			generic(func() { RMSNorm(i2, i2, w, 1e-6) })
			sameBits32(t, "RMSNorm in place "+name, i1, i2)
			if n > 0 {
				var g float64
				generic(func() { g = sumSquares(x) })
				if a := sumSquares(x); math.Float64bits(a) != math.Float64bits(g) && !(a != a && g != g) {
					t.Fatalf("sum of squares %s: NEON %v, portable %v", name, a, g)
				}
			}
		}
	}
}

func TestMirrorRoPE(t *testing.T) {
	needNNAsm(t)
	r := rand.New(rand.NewPCG(63, 64))
	type rope func(x []float32, nHeads, headDim, ropeDim int, cos, sin []float32)
	ops := []struct {
		name string
		f    rope
	}{{"RoPE", RoPE}, {"RoPEBack", RoPEBack}, {"RoPENeox", RoPENeox}, {"RoPENeoxBack", RoPENeoxBack}}
	for _, headDim := range []int{2, 6, 8, 10, 16, 18, 24, 34, 48, 64, 100, 128} {
		for _, ropeDim := range []int{headDim, headDim - 2, headDim / 2 &^ 1, 0} {
			if ropeDim < 0 {
				continue
			}
			for trial := range 3 {
				heads := 1 + trial
				half := ropeDim / 2
				c, s := make([]float32, half), make([]float32, half)
				if trial == 0 && ropeDim > 0 {
					RoPEFreqs(c, s, 1+r.IntN(4000), ropeDim, 10000)
				} else {
					c, s = mirrorSlice(r, half), mirrorSlice(r, half)
				}
				x := mirrorSlice(r, heads*headDim)
				for _, op := range ops {
					name := fmt.Sprintf("%s headDim %d ropeDim %d heads %d", op.name, headDim, ropeDim, heads)
					y1, y2 := append([]float32(nil), x...), append([]float32(nil), x...)
					op.f(y1, heads, headDim, ropeDim, c, s)
					generic(func() { op.f(y2, heads, headDim, ropeDim, c, s) })
					sameBits32(t, name, y1, y2)
				}
			}
		}
	}
}

// TestMirrorAttention runs Attention with the kernels and with the models:
// every small head length (below 32; the kernels take multiples of four,
// the rest stays portable), large ones (the kernels take multiples of
// eight, the rest calls Dot and Axpy per position), grouped KV heads, and
// enough positions for every remainder of four.
func TestMirrorAttention(t *testing.T) {
	needNNAsm(t)
	r := rand.New(rand.NewPCG(65, 66))
	var hds []int
	for hd := 1; hd < 32; hd++ {
		hds = append(hds, hd)
	}
	for _, hd := range append(hds, 32, 36, 40, 48, 64, 72, 100, 128, 136) {
		for _, g := range []struct{ heads, kvHeads, n, pos int }{{2, 1, 1, 0}, {4, 2, 3, 5}, {3, 3, 6, 9}, {2, 2, 1, 30}} {
			ctx := g.pos + g.n + 2
			qd, kvd := g.heads*hd, g.kvHeads*hd
			q := mirrorAttn(r, g.n*qd)
			k, v := mirrorAttn(r, ctx*kvd), mirrorAttn(r, ctx*kvd)
			o1, o2 := make([]float32, g.n*qd), make([]float32, g.n*qd)
			s1, s2 := make([]float32, g.n*g.heads*ctx), make([]float32, g.n*g.heads*ctx)
			Attention(o1, q, k, v, s1, g.n, g.pos, g.heads, g.kvHeads, hd, ctx)
			generic(func() { Attention(o2, q, k, v, s2, g.n, g.pos, g.heads, g.kvHeads, hd, ctx) })
			name := fmt.Sprintf("hd %d heads %d/%d n %d pos %d", hd, g.heads, g.kvHeads, g.n, g.pos)
			sameBits32(t, "attention scores "+name, s1, s2)
			sameBits32(t, "attention "+name, o1, o2)
		}
	}
}

// mirrorAttn is mirrorSlice without the huge values, which would make every
// score infinite and the softmax NaN.
func mirrorAttn(r *rand.Rand, n int) []float32 {
	s := mirrorSlice(r, n)
	for i := range s {
		if math.Abs(float64(s[i])) > 1e3 {
			s[i] = float32(r.NormFloat64() * 3)
		}
	}
	return s
}
