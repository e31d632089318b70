package model_test

import (
	"github.com/shear-ai/shear/runtime/model"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestSaveRoundTrip: stories260K read → write → read gives identical
// weights, config and logits; uniform stays llama.
func TestSaveRoundTrip(t *testing.T) {
	m := loadStories(t, tensor.F32)
	path := filepath.Join(t.TempDir(), "rt.gguf")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.String("general.architecture"); a != "llama" {
		t.Errorf("uniform model written as %q", a)
	}
	m2, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Embed.F32, m2.Embed.F32) || !slices.Equal(m.Blocks[4].Wdown.F32, m2.Blocks[4].Wdown.F32) {
		t.Error("weights differ after round trip")
	}
	if !slices.Equal(m.Tok.Vocab().Tokens, m2.Tok.Vocab().Tokens) || m2.Tied != m.Tied {
		t.Error("tokenizer or tying differs after round trip")
	}
	checkSameLogits(t, m, m2, 0)
}

// TestSaveDeci: per-layer widths are written as arch deci with arrays, and
// read back to the same model.
func TestSaveDeci(t *testing.T) {
	c := model.UniformConfig(32, 48, 3, 4, 2, 50, 64)
	c.Heads, c.KVHeads, c.FFN = []int{4, 2, 0}, []int{2, 1, 0}, []int{40, 0, 24}
	m, err := model.NewRandom(c, tensor.F16, 3)
	if err != nil {
		t.Fatal(err)
	}
	src := loadStories(t, tensor.F32)
	m.Tok = src.Tok // any vocabulary; only its size matters here
	m.Vocab = src.Vocab
	m.Embed, _ = tensor.New(src.Vocab, 32, make([]float32, src.Vocab*32), tensor.F16)
	m.Output, _ = tensor.New(src.Vocab, 32, make([]float32, src.Vocab*32), tensor.F16)
	path := filepath.Join(t.TempDir(), "deci.gguf")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.String("general.architecture"); a != "deci" {
		t.Fatalf("per-layer model written as %q", a)
	}
	if h, _ := f.Ints("deci.attention.head_count"); !slices.Equal(h, []int64{4, 2, 0}) {
		t.Errorf("head_count = %v", h)
	}
	m2, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.FFN, c.FFN) || !slices.Equal(m2.KVHeads, c.KVHeads) || m2.HeadDim != 8 {
		t.Errorf("config read back: %+v", m2.Config)
	}
	checkSameLogits(t, m, m2, 0)
}

func checkSameLogits(t *testing.T, a, b *model.Model, tol float32) {
	t.Helper()
	toks := []int{1, 20, 30, 40}
	la, err := a.NewState(8, 8).Forward(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.NewState(8, 8).Forward(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range la {
		if d := la[i] - lb[i]; d > tol || -d > tol {
			t.Fatalf("logit %d: %v vs %v", i, la[i], lb[i])
		}
	}
}

// TestDefaultLoadKeepsQuantized: with DefaultLoadOptions a Q8_0 or Q4_0
// file loads with its blocks untouched (byte-equal to what was written),
// float files load as F16, and an explicit DType still converts.
func TestDefaultLoadKeepsQuantized(t *testing.T) {
	src := loadStories(t, tensor.F32)
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q8_0, tensor.Q4_0} {
		m, err := model.NewRandom(model.UniformConfig(64, 96, 2, 4, 2, src.Vocab, 64), dt, 5)
		if err != nil {
			t.Fatal(err)
		}
		m.Tok = src.Tok
		path := filepath.Join(t.TempDir(), dt.String()+".gguf")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		want := dt
		if !dt.Quantized() {
			want = tensor.F16
		}
		got, err := model.Load(path, model.DefaultLoadOptions())
		if err != nil {
			t.Fatal(err)
		}
		if st := got.StorageTypes(); !slices.Equal(st, []tensor.DType{want}) {
			t.Errorf("%s file with default options: storage %v, want [%s]", dt, st, want)
		}
		if dt.Quantized() && (!slices.Equal(got.Blocks[1].Wdown.Q, m.Blocks[1].Wdown.Q) || !slices.Equal(got.Embed.Q, m.Embed.Q)) {
			t.Errorf("%s blocks changed on a default load", dt)
		}
		conv, err := model.Load(path, model.LoadOptions{DType: tensor.F16})
		if err != nil {
			t.Fatal(err)
		}
		if st := conv.StorageTypes(); !slices.Equal(st, []tensor.DType{tensor.F16}) {
			t.Errorf("%s file loaded as f16: storage %v", dt, st)
		}
	}
}
