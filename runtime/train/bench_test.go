package train

import (
	"sync"
	"testing"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// peakGFLOPs is this machine's FMA peak (simd.FMAPeak: independent
// accumulators on every pool thread), measured once per benchmark binary so
// MFU compares numbers from the same run.
var (
	peakOnce   sync.Once
	peakGFLOPs float64
)

func measurePeak() { peakGFLOPs = simd.FMAPeak(simd.Threads()) }

// matmulParams counts the weights every token multiplies (the block
// matrices and the output projection).
func matmulParams(m *model.Model) float64 {
	n := m.Output.Rows * m.Output.Cols
	for _, L := range m.Blocks {
		for _, w := range []*tensor.Matrix{L.Wq, L.Wk, L.Wv, L.Wo, L.Wgate, L.Wup, L.Wdown} {
			if w != nil {
				n += w.Rows * w.Cols
			}
		}
	}
	return float64(n)
}

// BenchmarkTrain15M reports training tokens/s and MFU (model FLOP/s ÷
// the FMA peak measured in the same run) for the 15M shape: full training counts
// 6·N FLOPs per token (forward, input and weight gradients) plus
// attention; LoRA counts 4·N (no base weight gradients).
func BenchmarkTrain15M(b *testing.B) {
	peakOnce.Do(measurePeak)
	for _, full := range []bool{true, false} {
		name := "lora"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			cfg := model.Shapes["15M"]
			dt := tensor.F16
			if full {
				dt = tensor.F32
			}
			m, err := model.NewRandom(cfg, dt, 1)
			if err != nil {
				b.Fatal(err)
			}
			B, T := 4, 256
			lc := lora.DefaultConfig()
			lc.Dropout = 0
			tr, err := New(m, Options{Full: full, LoRA: lc, Batch: B, Ctx: T, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			tokens, targets := make([]int, B*T), make([]int, B*T)
			for i := range tokens {
				tokens[i], targets[i] = (i*31+7)%cfg.Vocab, (i*17+3)%cfg.Vocab
			}
			tr.Step(tokens, targets, 1) // warm up buffers and the pool
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.ZeroGrad()
				if _, _, err := tr.Step(tokens, targets, 1); err != nil {
					b.Fatal(err)
				}
			}
			tokS := float64(b.N*B*T) / b.Elapsed().Seconds()
			per := 4.0
			if full {
				per = 6
			}
			// Attention: QKᵀ and PV, forward 2·2·T·dim per token per layer (full
			// square, as computed), backward twice that.
			att := 3 * 4 * float64(T) * float64(cfg.Dim) * float64(cfg.Layers)
			flops := (per*matmulParams(m) + att) * tokS
			b.ReportMetric(tokS, "tok/s")
			b.ReportMetric(flops/1e9, "GFLOP/s")
			b.ReportMetric(flops/1e9/peakGFLOPs, "MFU")
			b.ReportMetric(peakGFLOPs, "peak-GFLOP/s")
		})
	}
}
