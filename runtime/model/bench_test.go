package model_test

import (
	"fmt"
	"github.com/shear-ai/shear/runtime/model"
	"sync"
	"testing"
	"time"

	"github.com/viterin/vek/vek32"

	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// Machine references measured once per benchmark binary, so every ratio
// below compares numbers from the same run: the honest probes of
// simd.FMAPeak and simd.ReadBandwidth (independent accumulators, a buffer
// eight times the L3), and for context Shear's own GEMM and vek's.
var (
	refOnce      sync.Once
	refBandwidth float64 // GB/s, simd.ReadBandwidth on the pool's threads, 256 MiB
	refPeak      float64 // GFLOP/s, simd.FMAPeak on the pool's threads
	refGEMM      float64 // GFLOP/s, simd.MatMul 512³
	refVek       float64 // GFLOP/s, vek32.MatMul 64×768×2048
)

func measureReferences() {
	refBandwidth = simd.ReadBandwidth(simd.Threads(), 256<<20)
	refPeak = simd.FMAPeak(simd.Threads())
	n := 512
	a, w, dst := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	best := 0.0
	for r := 0; r < 20; r++ {
		t0 := time.Now()
		simd.MatMul(dst, a, w, n, n, n)
		best = max(best, 2*float64(n*n*n)/time.Since(t0).Seconds()/1e9)
	}
	refGEMM = best
	m, k, nn := 64, 768, 2048
	va, vb, vd := make([]float32, m*k), make([]float32, k*nn), make([]float32, m*nn)
	best = 0
	for r := 0; r < 5; r++ {
		t0 := time.Now()
		vek32.MatMul_Into(vd, va, vb, k)
		best = max(best, 2*float64(m*k*nn)/time.Since(t0).Seconds()/1e9)
	}
	refVek = best
}

// weightBytes is what one decoded token reads: every matrix once.
func weightBytes(m *model.Model) int { return m.Output.Bytes() + layerBytes(m) }

func layerBytes(m *model.Model) int {
	n := 0
	for _, L := range m.Blocks {
		for _, w := range []*tensor.Matrix{L.Wq, L.Wk, L.Wv, L.Wo, L.Wgate, L.Wup, L.Wdown} {
			if w != nil {
				n += w.Bytes()
			}
		}
	}
	return n
}

// prefillFLOPs counts the matrix products of a prefill of n tokens: every
// layer matrix for every token, the output projection for the last only.
func prefillFLOPs(m *model.Model, n int) float64 {
	bytesPer := map[tensor.DType]float64{tensor.F32: 4, tensor.F16: 2, tensor.Q8_0: 34.0 / 32}[m.Output.DType]
	return 2 * (float64(n)*float64(layerBytes(m)) + float64(m.Output.Bytes())) / bytesPer
}

var benchModels = map[string]*model.Model{}

func benchModel(b *testing.B, shape string, dt tensor.DType) *model.Model {
	key := shape + dt.String()
	if m, ok := benchModels[key]; ok {
		return m
	}
	m, err := model.NewRandom(model.Shapes[shape], dt, 1)
	if err != nil {
		b.Fatal(err)
	}
	benchModels[key] = m
	return m
}

// BenchmarkDecode reports tokens/s and the fraction of the read-bandwidth
// bound (weight bytes per token ÷ measured bandwidth) reached.
func BenchmarkDecode(b *testing.B) {
	refOnce.Do(measureReferences)
	for _, shape := range []string{"15M", "110M"} {
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
			b.Run(fmt.Sprintf("%s/%s", shape, dt), func(b *testing.B) {
				m := benchModel(b, shape, dt)
				const steps = 32
				st := m.NewState(steps+1, 1)
				b.ResetTimer()
				for it := 0; it < b.N; it++ {
					st.Reset()
					for i := 0; i < steps; i++ {
						st.Forward([]int{i + 1}, false)
					}
				}
				tokS := float64(b.N*steps) / b.Elapsed().Seconds()
				bound := refBandwidth * 1e9 / float64(weightBytes(m))
				b.ReportMetric(tokS, "tok/s")
				b.ReportMetric(tokS/bound, "of-bw-bound")
				b.ReportMetric(refBandwidth, "bw-GB/s")
			})
		}
	}
}

// BenchmarkDecodeQ8VsF16 measures the Q8_0 speed-up over f16 on the 110M
// shape: decode rounds of the two alternate, and the best round of each
// counts, so that load from other jobs falls on both alike.
func BenchmarkDecodeQ8VsF16(b *testing.B) {
	const steps, rounds = 32, 5
	models := map[tensor.DType]*model.Model{}
	for _, dt := range []tensor.DType{tensor.F16, tensor.Q8_0} {
		models[dt] = benchModel(b, "110M", dt)
	}
	best := map[tensor.DType]float64{}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for r := 0; r < rounds; r++ {
			for _, dt := range []tensor.DType{tensor.F16, tensor.Q8_0} {
				st := models[dt].NewState(steps+1, 1)
				t0 := time.Now()
				for i := 0; i < steps; i++ {
					st.Forward([]int{i + 1}, false)
				}
				best[dt] = max(best[dt], steps/time.Since(t0).Seconds())
			}
		}
	}
	b.ReportMetric(best[tensor.F16], "f16-tok/s")
	b.ReportMetric(best[tensor.Q8_0], "q8_0-tok/s")
	b.ReportMetric(best[tensor.Q8_0]/best[tensor.F16], "q8_0-x-f16")
}

// BenchmarkPrefill reports tokens/s and the fraction of the FMA peak
// (simd.FMAPeak in the same run) reached.
func BenchmarkPrefill(b *testing.B) {
	refOnce.Do(measureReferences)
	for _, shape := range []string{"15M", "110M"} {
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
			b.Run(fmt.Sprintf("%s/%s", shape, dt), func(b *testing.B) {
				m := benchModel(b, shape, dt)
				const n = 128
				tokens := make([]int, n)
				for i := range tokens {
					tokens[i] = i + 1
				}
				st := m.NewState(n, 64)
				b.ResetTimer()
				for it := 0; it < b.N; it++ {
					st.Reset()
					st.Forward(tokens, false)
				}
				tokS := float64(b.N*n) / b.Elapsed().Seconds()
				gflops := prefillFLOPs(m, n) * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(tokS, "tok/s")
				b.ReportMetric(gflops, "GFLOP/s")
				b.ReportMetric(gflops/refPeak, "of-peak")
				b.ReportMetric(refPeak, "peak-GFLOP/s")
				b.ReportMetric(refGEMM/refPeak, "gemm512-of-peak")
				b.ReportMetric(refVek, "vek-GFLOP/s")
			})
		}
	}
}
