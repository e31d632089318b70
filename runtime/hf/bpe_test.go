package hf

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// TestBPERoundTrip: a model with a byte-level BPE vocabulary (GPT-2's, from
// llama.cpp's test file) is exported with tokenizer.json and no
// tokenizer.model, imports with the same vocabulary, and its GGUF carries
// the merges and pre-tokenizer.
func TestBPERoundTrip(t *testing.T) {
	f, err := gguf.Open("../../../shared/models/vocab-tests/ggml-vocab-gpt-2.gguf")
	if err != nil {
		t.Skipf("shared vocabulary absent: %v", err)
	}
	v, err := tokenizer.VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	v.Scores = nil // tokenizer.json carries none
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	c := model.UniformConfig(32, 64, 1, 2, 2, tok.Size(), 64)
	m, err := model.NewRandom(c, tensor.F32, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = tok
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(m, dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, TokenizerFile)); err == nil {
		t.Errorf("%s written for a byte-level vocabulary", TokenizerFile)
	}
	m2, err := Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Tok.Vocab(); !reflect.DeepEqual(got, v) {
		t.Errorf("vocabulary differs after the round trip: pre %q→%q bos %d→%d eos %d→%d tokens %d→%d",
			v.Pre, got.Pre, v.BOS, got.BOS, v.EOS, got.EOS, len(v.Tokens), len(got.Tokens))
	}
	g := ggufOf(t, m2)
	if got, err := tokenizer.VocabFromGGUF(g); err != nil || !reflect.DeepEqual(got, v) {
		t.Errorf("GGUF of the imported model: err %v, vocabulary equal %v", err, reflect.DeepEqual(got, v))
	}
	// The GGUF model loads with its byte-level tokenizer and encodes as the
	// original vocabulary does.
	m3, err := model.FromGGUF(g, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	const text = "Hello, world! 1234 it's"
	if m3.Tok.Model() != tokenizer.ModelBPE || !reflect.DeepEqual(m3.Tok.Encode(text), tok.Encode(text)) {
		t.Errorf("loaded model: tokenizer %q, Encode %v, want gpt2 and %v", m3.Tok.Model(), m3.Tok.Encode(text), tok.Encode(text))
	}
}

// TestSPMAddFlags: a SentencePiece model's add_bos_token/add_eos_token go
// to tokenizer_config.json and come back from it (llama.cpp's converter
// reads them there for tokenizer.model too).
func TestSPMAddFlags(t *testing.T) {
	m, err := model.Load("../../../shared/models/stories260K.gguf", model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Skipf("shared model absent: %v", err)
	}
	v := m.Tok.Vocab()
	v.AddBOS, v.AddEOS = false, true
	if m.Tok, err = tokenizer.New(v); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(m, dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Tok.AddBOS() || !m2.Tok.AddEOS() {
		t.Errorf("add_bos %v add_eos %v after the round trip, want false true", m2.Tok.AddBOS(), m2.Tok.AddEOS())
	}
}

// TestPrunedQwen2FromGGUF: a pruned Qwen2 is written to GGUF as deci (q/k
// rows permuted to adjacent pairs, biases kept); read back from that file
// it exports as Qwen2ForCausalLM with per-layer widths, and that imports
// and writes the same GGUF tensors, byte for byte.
func TestPrunedQwen2FromGGUF(t *testing.T) {
	src := loadStories(t, tensor.F32)
	c, err := model.FamilyConfig(model.FamilySpec{Arch: "qwen2", Dim: 56, FFN: 96, Layers: 2, Heads: 7, KVHeads: 1, Vocab: src.Vocab, Ctx: 64, Tied: true})
	if err != nil {
		t.Fatal(err)
	}
	c.FFN[1] = 64
	m, err := model.NewRandom(c, tensor.F32, 5)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	deci, err := model.FromGGUF(ggufOf(t, m), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if deci.Arch != "deci" || !deci.QKVBias {
		t.Fatalf("read back as %s (biases %v), want deci with biases", deci.Arch, deci.QKVBias)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(deci, dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if back.Arch != "qwen2" || back.FFN[1] != 64 {
		t.Errorf("imported as %s with ffn %v, want qwen2 [96 64]", back.Arch, back.FFN)
	}
	sameTensors(t, ggufOf(t, deci), ggufOf(t, back))
}
