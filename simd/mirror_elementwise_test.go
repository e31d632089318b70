package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMirrorElementwise holds the element-wise kernels that TestMirrorVector
// does not compare directly (scale, add, mul, max) to their models, bit for
// bit, in place as the runtime calls them; max also on all-negative
// inputs. (On a tie of +0 and -0, VMAXPS and the NEON kernel return the
// later zero and the model the first; Softmax, the one caller, gives the
// same bits either way, since x−(+0) and x−(−0) differ only for x = ±0,
// where e^x is 1.)
func TestMirrorElementwise(t *testing.T) {
	needAsm(t)
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range mirrorLens {
		for trial := range 10 {
			name := fmt.Sprintf("n=%d trial %d", n, trial)
			x, y := mirrorSlice(r, n), mirrorSlice(r, n)
			a := float32(r.NormFloat64())
			s1, s2 := append([]float32(nil), x...), append([]float32(nil), x...)
			scale(a, s1)
			generic(func() { scale(a, s2) })
			sameBits32(t, "scale "+name, s1, s2)
			a1, a2 := append([]float32(nil), x...), append([]float32(nil), x...)
			add(a1, a1, y)
			generic(func() { add(a2, a2, y) })
			sameBits32(t, "add "+name, a1, a2)
			m1, m2 := append([]float32(nil), y...), append([]float32(nil), y...)
			mul(m1, x, m1)
			generic(func() { mul(m2, x, m2) })
			sameBits32(t, "mul "+name, m1, m2)
			if n == 0 {
				continue
			}
			neg := make([]float32, n)
			for i := range neg {
				neg[i] = -float32(math.Abs(float64(x[i]))) - 1
			}
			for _, v := range [][]float32{x, neg} {
				var g float32
				generic(func() { g = maxOf(v) })
				sameBits32(t, "max "+name, []float32{maxOf(v)}, []float32{g})
			}
		}
	}
}
