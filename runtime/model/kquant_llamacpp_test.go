package model_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
)

// llamaTool returns the path of a llama.cpp tool in $SHEAR_LLAMA_BIN (a
// build for this CPU, with llama-quantize, llama-cli and llama-perplexity;
// ../shared/tools/llama.cpp/README.md says how to build one), or skips.
func llamaTool(t *testing.T, name string) string {
	dir := os.Getenv("SHEAR_LLAMA_BIN")
	if dir == "" {
		t.Skip("SHEAR_LLAMA_BIN is not set")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s: %v", name, err)
	}
	return p
}

// TestQ4_K_MMatchesLlamaCpp: a model quantized by llama.cpp's own
// llama-quantize to Q4_K_M loads in Shear with its Q4_K and Q6_K blocks
// kept, decodes greedily to llama.cpp's tokens (llama-cli), and has
// llama-perplexity's perplexity under that tool's protocol.
func TestQ4_K_MMatchesLlamaCpp(t *testing.T) {
	quantize, cli, ppl := llamaTool(t, "llama-quantize"), llamaTool(t, "llama-cli"), llamaTool(t, "llama-perplexity")
	dir := t.TempDir()
	src := loadStories(t, tensor.F32)
	// Rows of 256 and 768 values: whole super-blocks, so no fallback types.
	m, err := model.NewRandom(model.UniformConfig(256, 768, 4, 4, 4, src.Vocab, 256), tensor.F16, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	// Larger output weights spread the logits, so that greedy choices are
	// clear (ppl ≈ 1800 on English text: a random model, but not uniform).
	out := m.Output.Float32()
	for i := range out {
		out[i] *= 5
	}
	if m.Output, err = tensor.New(m.Output.Rows, m.Output.Cols, out, tensor.F16); err != nil {
		t.Fatal(err)
	}
	f16, q4 := filepath.Join(dir, "f16.gguf"), filepath.Join(dir, "q4_k_m.gguf")
	if err := m.Save(f16); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(quantize, f16, q4, "Q4_K_M").CombinedOutput(); err != nil {
		t.Fatalf("llama-quantize: %v\n%s", err, b)
	}
	km, err := model.Load(q4, model.DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if st := km.StorageTypes(); !slices.Contains(st, tensor.Q4_K) || !slices.Contains(st, tensor.Q6_K) {
		t.Fatalf("Q4_K_M file loaded as %v, want its Q4_K and Q6_K blocks kept", st)
	}

	const steps = 48
	st := km.NewState(steps+1, 1)
	var ids []int
	logits, err := st.Forward([]int{km.Tok.BOS()}, false)
	for range steps {
		if err != nil {
			t.Fatal(err)
		}
		id := sample.Argmax(logits)
		ids = append(ids, id)
		logits, err = st.Forward([]int{id}, false)
	}
	want := km.Tok.Decode(ids)
	if got := testshared.LlamaGreedy(t, cli, q4, steps); got != strings.TrimSpace(want) {
		t.Errorf("greedy text from BOS:\nllama.cpp %q\nShear     %q", got, want)
	}

	text, err := os.ReadFile(sharedPath(t, "data/tinystories-dev.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text = text[:20000]
	const ctx = 128
	ref := testshared.LlamaPerplexity(t, ppl, q4, text, ctx)
	got := llamaPerplexityProtocol(t, km, string(text), ctx)
	if rel := math.Abs(got/ref - 1); rel > 1e-3 {
		t.Errorf("perplexity %.4f, llama-perplexity %.4f (%.3f%% off)", got, ref, 100*rel)
	}
	t.Logf("greedy %d tokens equal (%q); ppl %.4f, llama-perplexity %.4f", steps, want, got, ref)
}

// llamaPerplexityProtocol is llama-perplexity's default scoring: the
// tokenization with BOS cut into chunks of ctx tokens, each chunk's first
// token replaced by BOS, and only the second half of each chunk scored.
func llamaPerplexityProtocol(t *testing.T, m *model.Model, text string, ctx int) float64 {
	tokens := append([]int{m.Tok.BOS()}, m.Tok.Encode(text)...)
	st := m.NewState(ctx, ctx)
	var nll float64
	var n int
	for c := 0; (c+1)*ctx <= len(tokens); c++ {
		chunk := slices.Clone(tokens[c*ctx : (c+1)*ctx])
		chunk[0] = m.Tok.BOS()
		st.Reset()
		logits, err := st.Forward(chunk, true)
		if err != nil {
			t.Fatal(err)
		}
		for j := ctx / 2; j < ctx-1; j++ {
			nll -= eval.LogProb(logits[j*m.Vocab:(j+1)*m.Vocab], tokens[c*ctx+j+1])
			n++
		}
	}
	return math.Exp(nll / float64(n))
}
