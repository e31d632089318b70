package train

import (
	"math"
	"testing"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// memoryModels are shapes that exercise every branch of the planner:
// grouped-query attention, per-head q/k norms with biases, per-layer
// widths (a pruned model, including a block without attention), no gate.
func memoryModels(t *testing.T) map[string]*model.Model {
	hetero := func(c *model.Config) {
		c.Heads[1], c.KVHeads[1] = 0, 0
		c.FFN[0] = 10
	}
	mk := func(mod func(c *model.Config), dt tensor.DType) *model.Model {
		m := tinyModel(t, mod)
		if err := m.Convert(dt); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return map[string]*model.Model{
		"gqa-f16":  mk(nil, tensor.F16),
		"qknorm":   mk(func(c *model.Config) { c.QKNorm, c.QKVBias = true, true }, tensor.F32),
		"hetero":   mk(hetero, tensor.F16),
		"ungated":  mk(func(c *model.Config) { c.Gated = false }, tensor.F32),
		"stories":  stories(t, tensor.F16),
		"tied-f16": mk(func(c *model.Config) { c.Tied = true }, tensor.F16),
	}
}

// TestMemoryEstimate: Estimate, computed from the shape alone, equals
// the buffers a trainer really holds after a step (Trainer.Memory, which
// walks them), for LoRA with and without dropout and recomputation, full
// training, base gradients and a frozen teacher.
func TestMemoryEstimate(t *testing.T) {
	lc := lora.DefaultConfig()
	noDrop := lc
	noDrop.Dropout = 0
	few := lc
	few.Targets = []lora.Target{lora.Q, lora.Down}
	opts := map[string]Options{
		"lora":           {LoRA: lc, Batch: 2, Ctx: 8, Recompute: RecomputeOff},
		"lora-recompute": {LoRA: lc, Batch: 2, Ctx: 8, Recompute: RecomputeOn},
		"lora-nodrop":    {LoRA: noDrop, Batch: 3, Ctx: 5, Recompute: RecomputeOn},
		"lora-few":       {LoRA: few, Batch: 2, Ctx: 8},
		"basegrads":      {LoRA: noDrop, Batch: 2, Ctx: 8, BaseGrads: true},
		"full":           {Full: true, Batch: 2, Ctx: 8},
		"full-recompute": {Full: true, Batch: 2, Ctx: 8, Recompute: RecomputeOn},
		"frozen":         {Frozen: true, Batch: 2, Ctx: 8},
	}
	for mname := range memoryModels(t) {
		for oname, opt := range opts {
			t.Run(mname+"/"+oname, func(t *testing.T) {
				m := memoryModels(t)[mname]
				dt := m.Output.DType
				want := Estimate(&m.Config, dt, opt)
				tr, err := New(m, opt)
				if err != nil {
					t.Fatal(err)
				}
				tokens, targets := tinyBatch(opt.Batch, opt.Ctx, m.Vocab)
				got := tr.Memory()
				if !opt.Frozen {
					if _, _, err := tr.Step(tokens, targets, 1); err != nil {
						t.Fatal(err)
					}
					got = tr.Memory()
					got.Optimizer = NewAdamW(tr.Params(), 0).Bytes()
				}
				if got != want {
					t.Errorf("trainer holds %+v, Estimate says %+v", got, want)
				}
			})
		}
	}
}

// TestLoRAKeepsBaseAsStored: LoRA training over an f16 base holds no
// float32 copy of a frozen matrix and no gradient buffer for one: the
// matrices stay f16 through training steps, the trainer's base is the f16
// size, and it holds no base gradient.
func TestLoRAKeepsBaseAsStored(t *testing.T) {
	m := stories(t, tensor.F16)
	before := WeightBytes(&m.Config, tensor.F16)
	tr, err := New(m, Options{LoRA: lora.DefaultConfig(), Batch: 2, Ctx: 16})
	if err != nil {
		t.Fatal(err)
	}
	tokens, targets := tinyBatch(2, 16, m.Vocab)
	for range 2 {
		if _, _, err := tr.Step(tokens, targets, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range m.Matrices() {
		if w := *r.Mat; w.DType != tensor.F16 || w.F32 != nil {
			t.Errorf("%s is %s after LoRA steps (float32 copy: %v)", r.Name, w.DType, w.F32 != nil)
		}
		if g := tr.WeightGrad(r.Name); g != nil {
			t.Errorf("%s has a gradient buffer of %d", r.Name, len(g))
		}
	}
	mem := tr.Memory()
	if mem.Base != before || mem.BaseGrads != 0 {
		t.Errorf("base %d bytes (want %d as stored), base gradients %d bytes (want 0)", mem.Base, before, mem.BaseGrads)
	}
	if mem.Adapter == 0 {
		t.Error("no adapter counted")
	}
}

// TestRecomputeIsBitIdentical: recomputing each block from its saved
// input in the backward gives the same loss and the same gradient bits as
// storing every activation, with LoRA dropout (its masks are drawn again
// from the saved stream) and in full training; the dropout stream ends
// where it would have.
func TestRecomputeIsBitIdentical(t *testing.T) {
	for name, full := range map[string]bool{"lora-dropout": false, "full": true} {
		for mname, mk := range map[string]func() *model.Model{
			"gqa":    func() *model.Model { return tinyModel(t, nil) },
			"qknorm": func() *model.Model { return tinyModel(t, func(c *model.Config) { c.QKNorm, c.QKVBias = true, true }) },
			"stories-f16": func() *model.Model {
				if full {
					return stories(t, tensor.F32)
				}
				return stories(t, tensor.F16)
			},
		} {
			t.Run(name+"/"+mname, func(t *testing.T) {
				lc := lora.DefaultConfig()
				lc.Dropout = 0.2
				run := func(rc Recompute) (*Trainer, []float64) {
					m := mk()
					tr, err := New(m, Options{Full: full, LoRA: lc, Batch: 2, Ctx: 12, Seed: 5, Recompute: rc})
					if err != nil {
						t.Fatal(err)
					}
					if tr.recompute != (rc == RecomputeOn) {
						t.Fatalf("recompute %v, asked %v", tr.recompute, rc)
					}
					tokens, targets := tinyBatch(2, 12, m.Vocab)
					var losses []float64
					for range 2 { // two steps: the second starts from the stream the first left
						loss, _, err := tr.Step(tokens, targets, 1)
						if err != nil {
							t.Fatal(err)
						}
						losses = append(losses, loss)
					}
					return tr, losses
				}
				a, la := run(RecomputeOff)
				b, lb := run(RecomputeOn)
				for i := range la {
					if math.Float64bits(la[i]) != math.Float64bits(lb[i]) {
						t.Fatalf("step %d loss %v stored, %v recomputed", i, la[i], lb[i])
					}
				}
				pa, pb := a.Params(), b.Params()
				if len(pa) == 0 || len(pa) != len(pb) {
					t.Fatalf("%d and %d parameters", len(pa), len(pb))
				}
				for k := range pa {
					for i := range pa[k].G {
						if math.Float32bits(pa[k].G[i]) != math.Float32bits(pb[k].G[i]) {
							t.Fatalf("%s[%d]: gradient %v stored, %v recomputed", pa[k].Name, i, pa[k].G[i], pb[k].G[i])
						}
					}
				}
				sa, _ := a.RNGState()
				sb, _ := b.RNGState()
				if string(sa) != string(sb) {
					t.Error("the dropout stream ends elsewhere with recomputation")
				}
				if mb, ma := b.Memory().Activations, a.Memory().Activations; mb >= ma {
					t.Errorf("recomputation keeps %d bytes of activations, storing %d", mb, ma)
				}
			})
		}
	}
}

// TestChannelTaylor: the per-sequence first-order terms ⟨x, ∂L/∂x⟩ of
// each unit of the inputs of Wo (a KV group's query heads) and Wdown (a
// channel), summed over the sequences, equal Σ_{i, j ∈ unit} W[i, j]·∂L/∂W[i, j]
// from the base gradients (another path through the backward); each
// sequence's term is that sequence's own (alone in a batch of one it is
// scaled by the batch's share of its scored tokens); and the per-token
// squares are at least the square of the sequence's sum divided by its
// length (Cauchy–Schwarz).
func TestChannelTaylor(t *testing.T) {
	lc := lora.DefaultConfig()
	lc.Dropout = 0
	const B, T = 2, 10
	m := tinyModel(t, nil)
	tr, err := New(m, Options{LoRA: lc, Batch: B, Ctx: T, BaseGrads: true, ChannelTaylor: true})
	if err != nil {
		t.Fatal(err)
	}
	tokens, targets := tinyBatch(B, T, m.Vocab)
	if _, _, err := tr.Step(tokens, targets, 1); err != nil {
		t.Fatal(err)
	}
	count, first := 0, 0
	for i, tg := range targets {
		if tg >= 0 {
			count++
			if i < T {
				first++
			}
		}
	}
	one, err := New(tinyModel(t, nil), Options{LoRA: lc, Batch: 1, Ctx: T, ChannelTaylor: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := one.Step(tokens[:T], targets[:T], 1); err != nil {
		t.Fatal(err)
	}
	for l := range m.Blocks {
		for _, name := range []string{model.AttnOutput.Name(l), model.FFNDown.Name(l)} {
			sums, squares, width := tr.ChannelTaylor(name)
			r, _ := m.Tensor(name)
			w, gw := *r.Mat, tr.WeightGrad(name)
			units := w.Cols / width
			if len(sums) != B*units || len(squares) != B*units {
				t.Fatalf("%s: %d sums for %d sequences of %d units", name, len(sums), B, units)
			}
			alone, _, _ := one.ChannelTaylor(name)
			for k := 0; k < units; k++ {
				var want float64
				for i := 0; i < w.Rows; i++ {
					for j := k * width; j < (k+1)*width; j++ {
						want += float64(w.F32[i*w.Cols+j]) * float64(gw[i*w.Cols+j])
					}
				}
				got := sums[k] + sums[units+k]
				if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
					t.Errorf("%s unit %d: Σ_b ⟨x, ∂L/∂x⟩ = %g, Σ W·∂L/∂W = %g", name, k, got, want)
				}
				scaled := alone[k] * float64(first) / float64(count)
				if math.Abs(sums[k]-scaled) > 1e-5*(1+math.Abs(scaled)) {
					t.Errorf("%s unit %d: sequence 0 gives %g in the batch, %g alone", name, k, sums[k], scaled)
				}
				for b := 0; b < B; b++ {
					s, q := sums[b*units+k], squares[b*units+k]
					if q < s*s/T*(1-1e-9) {
						t.Errorf("%s unit %d sequence %d: Σ t² = %g for Σ t = %g over %d tokens", name, k, b, q, s, T)
					}
				}
			}
		}
	}
}
