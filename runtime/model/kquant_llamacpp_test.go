package model_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shear-ai/shear/internal/llamacpp"
	"github.com/shear-ai/shear/runtime/model"
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

// randomF16File writes a random f16 model with stories260K's vocabulary
// into a temporary directory and returns the directory and the file.
// Rows of 256 and 768 values: whole super-blocks, so no fallback types.
func randomF16File(t *testing.T) (dir, path string) {
	dir = t.TempDir()
	src := loadStories(t, tensor.F32)
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
	path = filepath.Join(dir, "f16.gguf")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// TestQ4_K_MMatchesLlamaCpp: a model quantized by llama.cpp's own
// llama-quantize to Q4_K_M loads in Shear with its Q4_K and Q6_K blocks
// kept, decodes greedily to llama.cpp's tokens (llama-cli), and has
// llama-perplexity's perplexity under that tool's protocol.
func TestQ4_K_MMatchesLlamaCpp(t *testing.T) {
	quantize, cli, pplTool := llamaTool(t, "llama-quantize"), llamaTool(t, "llama-cli"), llamaTool(t, "llama-perplexity")
	dir, f16 := randomF16File(t)
	q4 := filepath.Join(dir, "q4_k_m.gguf")
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

	llamacpp.Check(t, km, cli, pplTool, q4, sharedPath(t, "data/tinystories-dev.txt"), 48, 256)
}

// TestLegacyQuantsMatchLlamaCpp: models quantized by llama-quantize to the
// read-only 32-value types (Q4_1, Q5_0, Q5_1; Q5_0 is also what a Q4_K_M
// file holds for rows that are not whole super-blocks) load in Shear
// (dequantized into float storage) and have llama-perplexity's perplexity
// within 0.1%.
func TestLegacyQuantsMatchLlamaCpp(t *testing.T) {
	quantize, cli, pplTool := llamaTool(t, "llama-quantize"), llamaTool(t, "llama-cli"), llamaTool(t, "llama-perplexity")
	dir, f16 := randomF16File(t)
	for _, typ := range []string{"Q4_1", "Q5_0", "Q5_1"} {
		t.Run(typ, func(t *testing.T) {
			q := filepath.Join(dir, typ+".gguf")
			if b, err := exec.Command(quantize, f16, q, typ).CombinedOutput(); err != nil {
				t.Fatalf("llama-quantize: %v\n%s", err, b)
			}
			// F32 storage holds the dequantized weights exactly (F16 would
			// round Q5's 16-bit products), so only llama.cpp's Q8_0
			// activations differ from Shear's arithmetic.
			qm, err := model.Load(q, model.LoadOptions{DType: tensor.F32})
			if err != nil {
				t.Fatal(err)
			}
			// Greedy text is logged, not compared: llama.cpp's products for
			// these types quantize the activations to Q8_0 and Shear's float
			// products do not, so on this near-uniform random model
			// (ppl ≈ 1700) a near tie flips a token (Q5_0: the 43rd of 48).
			shear, llama := llamacpp.Greedy(t, qm, cli, q, 48, 256)
			t.Logf("greedy from BOS: Shear %q, llama.cpp %q", shear, llama)
			got, want := llamacpp.Perplexity(t, qm, pplTool, q, sharedPath(t, "data/tinystories-dev.txt"), 20000, 128)
			if rel := math.Abs(got/want - 1); rel > 1e-3 {
				t.Errorf("perplexity %.4f, llama-perplexity %.4f (%.3f%% off)", got, want, 100*rel)
			}
			t.Logf("ppl %.4f, llama-perplexity %.4f", got, want)
		})
	}
}
