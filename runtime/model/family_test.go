package model_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// families are small models of every family Shear runs, each with the
// features that set it apart, on stories260K's vocabulary size (512).
var families = map[string]model.FamilySpec{
	"llama-gqa": {Arch: "llama", Dim: 36, FFN: 48, Layers: 2, Heads: 6, KVHeads: 2, Vocab: 512, Ctx: 64},
	"llama3-scaled-tied": {Arch: "llama", Dim: 32, FFN: 48, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512, Ctx: 64, Tied: true, RopeBase: 500000,
		RopeScaling: model.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 16}},
	"llama-linear": {Arch: "llama", Dim: 32, FFN: 48, Layers: 2, Heads: 4, KVHeads: 4, Vocab: 512, Ctx: 64,
		RopeScaling: model.RopeScaling{Type: "linear", Factor: 4}},
	"qwen2-bias-tied": {Arch: "qwen2", Dim: 28, FFN: 40, Layers: 2, Heads: 7, KVHeads: 1, Vocab: 512, Ctx: 64, Tied: true},
	"qwen3-qknorm":    {Arch: "qwen3", Dim: 32, FFN: 48, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 12, Vocab: 512, Ctx: 64, Tied: true},
}

// familyModel builds family name with weights large enough to make
// attention non-uniform, and stories260K's tokenizer.
func familyModel(t *testing.T, name string, dt tensor.DType) *model.Model {
	t.Helper()
	c, err := model.FamilyConfig(families[name])
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(c, tensor.F32, 5)
	if err != nil {
		t.Fatal(err)
	}
	for l := range m.Blocks {
		for _, w := range []*tensor.Matrix{m.Blocks[l].Wq, m.Blocks[l].Wk} {
			for i := range w.F32 {
				w.F32[i] *= 20
			}
		}
		for _, b := range [][]float32{m.Blocks[l].Bq, m.Blocks[l].Bk} {
			for i := range b {
				b[i] *= 50
			}
		}
	}
	if err := m.Convert(dt); err != nil {
		t.Fatal(err)
	}
	m.Tok = loadStories(t, tensor.F32).Tok
	return m
}

// TestFamiliesMatchReference: biases, NeoX RoPE, q/k norms, a head size
// other than dim/heads, and both rope scalings agree with the float64
// reference (which computes the scaled frequencies transformers' way).
func TestFamiliesMatchReference(t *testing.T) {
	for name := range families {
		t.Run(name, func(t *testing.T) {
			m := familyModel(t, name, tensor.F32)
			checkAgainstReference(t, m, []int{1, 5, 9, 13, 2, 44, 7, 7, 30, 300, 17, 19, 21, 40, 41, 42, 43, 44}, 2e-4)
		})
	}
}

// TestFamiliesGGUFRoundTrip: each family written to GGUF reads back to a
// model that writes the same bytes, with the arch llama.cpp expects.
func TestFamiliesGGUFRoundTrip(t *testing.T) {
	wantArch := map[string]string{"llama-gqa": "llama", "llama3-scaled-tied": "llama", "llama-linear": "llama",
		"qwen2-bias-tied": "qwen2", "qwen3-qknorm": "qwen3"}
	for name := range families {
		t.Run(name, func(t *testing.T) {
			m := familyModel(t, name, tensor.F16)
			raw, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if a, _ := f.String("general.architecture"); a != wantArch[name] {
				t.Errorf("written as arch %q, want %q", a, wantArch[name])
			}
			m2, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F16})
			if err != nil {
				t.Fatal(err)
			}
			if m2.QKVBias != m.QKVBias || m2.QKNorm != m.QKNorm || m2.Tied != m.Tied || m2.HeadDim != m.HeadDim || m2.RopeScaling != m.RopeScaling {
				t.Errorf("config differs: %+v vs %+v", m2.Config, m.Config)
			}
			raw2, err := m2.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, raw2) {
				t.Error("the re-written file differs")
			}
			checkSameLogits(t, m, m2, 0)
		})
	}
}

// TestLlama3FactorsOnly: a GGUF as llama.cpp's converter writes it — the
// rope_freqs tensor, no parameter keys — runs with those factors.
func TestLlama3FactorsOnly(t *testing.T) {
	m := familyModel(t, "llama3-scaled-tied", tensor.F32)
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	nb := gguf.NewBuilder()
	for _, kv := range f.KV {
		if !strings.HasPrefix(kv.Key, "shear.") {
			nb.SetKV(kv)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if err := nb.AddTensor(ti.Name, ti.Type, ti.Dims, f.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := nb.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f2, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m2, err := model.FromGGUF(f2, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if m2.RopeScaling != (model.RopeScaling{Type: "llama3"}) {
		t.Errorf("scaling %+v, want llama3 from the tensor alone", m2.RopeScaling)
	}
	checkSameLogits(t, m, m2, 0)
}

func TestRopeScalingErrors(t *testing.T) {
	for _, r := range []model.RopeScaling{{Type: "yarn", Factor: 4}, {Type: "linear"}, {Type: "llama3", Factor: 8, LowFreqFactor: 4, HighFreqFactor: 1, OrigCtx: 10}} {
		c := model.UniformConfig(32, 48, 1, 4, 4, 50, 64)
		c.RopeScaling = r
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "rope scaling") {
			t.Errorf("%+v: error %v, want one naming the rope scaling", r, err)
		}
	}
}

// TestPrunedQwen2AsDeci: a qwen2 model with per-layer widths is written as
// deci with its q/k rows permuted to adjacent pairs (a uniform one with
// output biases as llama), and computes the same
// logits read back (up to summation order: the head's elements moved).
func TestPrunedQwen2AsDeci(t *testing.T) {
	m := familyModel(t, "qwen2-bias-tied", tensor.F32)
	c := m.Config
	c.Heads, c.KVHeads, c.FFN = []int{7, 0}, []int{1, 0}, []int{40, 24}
	pruned, err := model.NewRandom(c, tensor.F32, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]float32{pruned.Blocks[0].Bq, pruned.Blocks[0].Bk} {
		for i := range b {
			b[i] *= 50
		}
	}
	pruned.Tok = m.Tok
	raw, err := pruned.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.String("general.architecture"); a != "deci" {
		t.Fatalf("written as %q, want deci", a)
	}
	back, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if back.NeoxRoPE() || !back.QKVBias {
		t.Fatalf("read back as %+v", back.Config)
	}
	checkSameLogits(t, pruned, back, 1e-5)

	// Uniform widths with FLAP's Wo/Wdown biases, which llama.cpp's qwen2
	// does not load: the same pairs, as llama.
	c = m.Config
	c.OutBias = true
	biased, err := model.NewRandom(c, tensor.F32, 9)
	if err != nil {
		t.Fatal(err)
	}
	biased.Tok = m.Tok
	if raw, err = biased.Encode(); err != nil {
		t.Fatal(err)
	}
	if f, err = gguf.Parse(raw); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.String("general.architecture"); a != "llama" {
		t.Fatalf("qwen2 with output biases written as %q, want llama", a)
	}
	if back, err = model.FromGGUF(f, model.LoadOptions{DType: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	if back.NeoxRoPE() || !back.QKVBias || !back.OutBias {
		t.Fatalf("read back as %+v", back.Config)
	}
	checkSameLogits(t, biased, back, 1e-5)
}
