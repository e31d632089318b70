package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/viterin/vek/vek32"
)

// BenchmarkVekVsShear times each kernel that vek has an equivalent of
// against Shear's own at the sizes the runtime uses (288/768 model widths,
// 2048 FFN width, 32000 vocabulary; the 64×768×2048 prefill product), the
// two alternating in rounds so that load from other jobs falls on both; the
// best round of each counts. It reports ns per call of each and vek÷Shear
// (> 1: Shear is faster). The table and the choice per kernel are in
// doc.go.
func BenchmarkVekVsShear(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{288, 768, 2048, 32000} {
		x, y, dst := randSlice(r, n), randSlice(r, n), make([]float32, n)
		var sink float32
		var isink int
		kernels := []struct {
			name        string
			shear, vek_ func()
		}{
			{"dot", func() { sink += Dot(x, y) }, func() { sink += vek32.Dot(x, y) }},
			{"sum", func() { sink += Sum(x) }, func() { sink += vek32.Sum(x) }},
			{"add", func() { Add(dst, x, y) }, func() { vek32.Add_Into(dst, x, y) }},
			{"mul", func() { Mul(dst, x, y) }, func() { vek32.Mul_Into(dst, x, y) }},
			{"scale", func() { copy(dst, x); Scale(1.5, dst) }, func() { vek32.MulNumber_Into(dst, x, 1.5) }},
			{"argmax", func() { isink += Argmax(x) }, func() { isink += vek32.ArgMax(x) }},
		}
		for _, k := range kernels {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) { alternate(b, 20000000/n+1, k.shear, k.vek_) })
		}
		_, _ = sink, isink
	}
	const m, k, p = 64, 768, 2048 // prefill: 64 tokens × 768 → 2048
	xa, w, wt, out := randSlice(r, m*k), randSlice(r, p*k), randSlice(r, k*p), make([]float32, m*p)
	b.Run("matmul/64x768x2048", func(b *testing.B) {
		alternate(b, 1, func() { MatMul(out, xa, w, m, p, k) }, func() { vek32.MatMul_Into(out, xa, wt, k) })
	})
}

// alternate runs shear and vek reps times each per round, alternating, for
// seven rounds, and reports the best round of each.
func alternate(b *testing.B, reps int, shear, vek func()) {
	best := [2]time.Duration{1 << 62, 1 << 62}
	for b.Loop() {
		for range 7 {
			for i, f := range [2]func(){shear, vek} {
				t0 := time.Now()
				for range reps {
					f()
				}
				best[i] = min(best[i], time.Since(t0))
			}
		}
	}
	sh, vk := float64(best[0].Nanoseconds())/float64(reps), float64(best[1].Nanoseconds())/float64(reps)
	b.ReportMetric(sh, "shear-ns")
	b.ReportMetric(vk, "vek-ns")
	b.ReportMetric(vk/sh, "vek÷shear")
}
