//go:build interop

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// familySpecs are random-weight models of each family with its GQA ratio
// and features, at a size llama.cpp loads in a second. The vocabulary is
// stories260K's SentencePiece one (512 tokens): the architecture, not the
// tokenizer, is under test here, with per-layer widths cut by hand;
// TestRealVocabGreedy and TestPrunedRealVocab run the same shapes with the
// families' real vocabularies.
var familySpecs = map[string]model.FamilySpec{
	"smollm2-9-3-tied":  {Arch: "llama", Dim: 144, FFN: 384, Layers: 3, Heads: 9, KVHeads: 3, Ctx: 256, Tied: true, RopeBase: 100000},
	"qwen2.5-14-2-bias": {Arch: "qwen2", Dim: 224, FFN: 384, Layers: 3, Heads: 14, KVHeads: 2, Ctx: 256, Tied: true},
	"qwen3-16-8-qknorm": {Arch: "qwen3", Dim: 128, FFN: 384, Layers: 3, Heads: 16, KVHeads: 8, HeadDim: 32, Ctx: 256, Tied: true},
	"llama3.2-32-8-scaled": {Arch: "llama", Dim: 256, FFN: 512, Layers: 3, Heads: 32, KVHeads: 8, Ctx: 256, Tied: true, RopeBase: 500000,
		RopeScaling: model.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 64}},
}

// TestFamiliesGreedy: for each family, in f16 and q8_0, and pruned by
// 20% of the MLP channels and one KV head of layer 0 (per-layer widths),
// llama.cpp's greedy tokens from BOS equal Shear's.
func TestFamiliesGreedy(t *testing.T) {
	src := requireClient(t)
	dir := t.TempDir()
	for name, spec := range familySpecs {
		spec.Vocab = src.Vocab
		c, err := model.FamilyConfig(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, pruned := range []bool{false, true} {
			for _, dt := range []tensor.DType{tensor.F16, tensor.Q8_0} {
				label := name + "-" + dt.String()
				if pruned {
					label += "-pruned"
				}
				t.Run(label, func(t *testing.T) {
					m, err := model.NewRandom(c, tensor.F32, 3)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range m.Matrices() { // larger weights: a decisive greedy path
						for i := range (*r.Mat).F32 {
							(*r.Mat).F32[i] *= 5
						}
					}
					m.Tok = src.Tok
					checkFamilyGreedy(t, m, dt, pruned, filepath.Join(dir, label))
				})
			}
		}
	}
}

// realShapes are the families at their real shapes (model.Shapes) with
// their real vocabularies (see realVocabFamilies; Qwen's padded to
// 151,936 as the released models are).
var realShapes = []struct{ shape, vocab, size string }{
	{"SmolLM2-135M", "smollm", ""}, {"Qwen2.5-0.5B", "qwen3", "151936"}, {"Qwen3-0.6B", "qwen3", "151936"}, {"Llama-3.2-1B", "llama3", ""},
}

// needRealShapes skips unless SHEAR_REAL_SHAPES is set: the real shapes
// take minutes and gigabytes.
func needRealShapes(t *testing.T) {
	t.Helper()
	if os.Getenv("SHEAR_REAL_SHAPES") == "" {
		t.Skip("set SHEAR_REAL_SHAPES=1 to run the families at their real shapes")
	}
}

// initRealShape makes the random-weight model of a real shape with `shear
// init --shape … --vocab-from …` (f16) and returns its file.
func initRealShape(t *testing.T, shape, vocab, size, dir string) string {
	t.Helper()
	src := filepath.Join(dir, shape+".init.gguf")
	args := []string{"init", "--shape", shape, "--vocab-from", vocabSource(t, vocab, dir), "--dtype", "f16", "--seed", "3", "-o", src, "--json"}
	if size != "" {
		args = append(args, "--vocab", size)
	}
	shearCLI(t, args...)
	return src
}

// TestRealShapesGreedy runs the families at their real shapes, random
// weights, in f16 and q8_0, from BOS where the model adds one and from a
// text prompt (SHEAR_REAL_SHAPES=1).
func TestRealShapesGreedy(t *testing.T) {
	needRealShapes(t)
	requireClient(t)
	dir := t.TempDir()
	for _, c := range realShapes {
		t.Run(c.shape, func(t *testing.T) {
			src := initRealShape(t, c.shape, c.vocab, c.size, dir)
			for _, dt := range []tensor.DType{tensor.F16, tensor.Q8_0} {
				t.Run(dt.String(), func(t *testing.T) {
					path := filepath.Join(dir, c.shape+"-"+dt.String()+".gguf")
					sm, arch := storeAs(t, src, dt, path)
					greedyBothWays(t, sm, path, arch, dt)
				})
				os.Remove(filepath.Join(dir, c.shape+"-"+dt.String()+".gguf"))
			}
			os.Remove(src)
		})
	}
}

// TestRealShapesPruned is TestPrunedRealVocab at the real shapes: each
// family pruned by 20% of its layers with `shear prune --method
// magnitude` and a short `shear lorashear`, then an HF round trip in
// Shear and llama.cpp's greedy tokens against Shear's (SHEAR_REAL_SHAPES=1).
func TestRealShapesPruned(t *testing.T) {
	needRealShapes(t)
	requireClient(t)
	dir := t.TempDir()
	text := tinyStoriesText(t, dir)
	for _, c := range realShapes {
		t.Run(c.shape, func(t *testing.T) {
			src := initRealShape(t, c.shape, c.vocab, c.size, dir)
			for _, method := range []string{"magnitude", "lorashear"} {
				t.Run(method, func(t *testing.T) {
					base := filepath.Join(dir, c.shape+"-"+method)
					checkPruned(t, src, text, method, base)
					for _, suffix := range []string{".gguf", "-f16.gguf"} {
						os.Remove(base + suffix)
					}
				})
			}
			os.Remove(src)
		})
	}
}

// requireClient skips without node, fails without node-llama-cpp, and
// returns stories260K (its vocabulary is the stand-in).
func requireClient(t *testing.T) *model.Model {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat("node_modules/node-llama-cpp/package.json"); err != nil {
		t.Fatal("node-llama-cpp is not installed: run `npm i -E node-llama-cpp@3.21.1` in interop/")
	}
	src, err := model.Load(stories, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// checkFamilyGreedy optionally prunes m, stores it as dt the way a user
// would (write, reload at dt, write), and requires llama.cpp's 32 greedy
// tokens from BOS to be Shear's.
func checkFamilyGreedy(t *testing.T, m *model.Model, dt tensor.DType, pruned bool, base string) {
	t.Helper()
	if pruned && m.Arch == "qwen3" {
		t.Skip("llama.cpp's qwen3 takes every layer's head counts and FFN width from layer 0, and deci has no q/k norms: " +
			"no GGUF architecture runs a qwen3 model with per-layer widths (docs/FORMATS.md)")
	}
	if pruned {
		pruneFamily(t, m)
	}
	src := base + ".src.gguf"
	if err := m.Save(src); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(src, model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	path := base + ".gguf"
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	sm, err := model.Load(path, model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	compareGreedy(t, sm, path, arch, dt, nil)
}

// compareGreedy requires llama.cpp's 32 greedy tokens on the GGUF at path
// to be Shear's (sm, loaded from it): from BOS (prompt nil), or from the
// prompt with the special tokens each adds (llama.cpp's add_special and
// Shear's EncodeOptions.AddSpecial must give the same input).
func compareGreedy(t *testing.T, sm *model.Model, path, arch string, dt tensor.DType, prompt *string) {
	t.Helper()
	const n = 32
	input := []int{sm.Tok.BOS()}
	if prompt != nil {
		input = sm.Tok.EncodeWith(*prompt, tokenizer.EncodeOptions{AddSpecial: true})
	}
	got, llamaInput := llamaCppGreedyPrompt(t, path, n, prompt)
	if !slices.Equal(llamaInput, input) {
		t.Fatalf("input: llama.cpp %v, Shear %v", llamaInput, input)
	}
	want := shearGreedyFrom(t, sm, input, n)
	if slices.Equal(got, want) {
		t.Logf("arch %s: %d/%d greedy tokens equal (input %d tokens)", arch, len(got), n, len(input))
		return
	}
	// Where the paths part, llama.cpp's pick must be a near-tie in Shear's
	// logits (it rounds activations differently: f16, or q8_0 blocks
	// against q8_0 weights); teacher-forced on llama.cpp's tokens, every
	// later pick must be too.
	tol := float32(nearTie)
	if dt == tensor.Q8_0 {
		tol = nearTieQ8
	}
	ties, worst := agreesUpToTies(t, sm, input, got, tol)
	t.Logf("arch %s: greedy paths part at token %d; llama.cpp's tokens are Shear's argmax or within %g of it at every step (%d near-ties, the widest %.3g)",
		arch, firstDiff(got, want), tol, ties, worst)
}

// nearTie is how far below Shear's best logit llama.cpp's pick may be.
// With q8_0 weights, llama.cpp's picks on these random models were up to
// 0.11 below Shear's best (qwen2 and llama3-scaled, not stories260K or
// the pruned deci files): an open difference in the q8_0 path, bounded
// here so that a wrong architecture (gaps of whole logits) still fails.
const (
	nearTie   = 0.02
	nearTieQ8 = 0.25
)

// agreesUpToTies runs m on tokens (after input) and requires each to be
// the argmax of m's logits or within tol of it; it returns how many were
// not the argmax and the widest such gap.
func agreesUpToTies(t *testing.T, m *model.Model, input, tokens []int, tol float32) (ties int, worst float32) {
	t.Helper()
	st := m.NewState(len(input)+len(tokens), 1)
	logits, err := st.Forward(input, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		best := sample.Argmax(logits)
		if tok != best {
			gap := logits[best] - logits[tok]
			if gap > tol {
				t.Fatalf("token %d: llama.cpp picked %d, %g below Shear's best %d", i, tok, gap, best)
			}
			ties, worst = ties+1, max(worst, gap)
		}
		if logits, err = st.Forward([]int{tok}, false); err != nil {
			t.Fatal(err)
		}
	}
	return ties, worst
}

func firstDiff(a, b []int) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// pruneFamily removes one KV head group of layer 0 and every fifth MLP
// channel of every layer: per-layer widths, as structured pruning leaves.
func pruneFamily(t *testing.T, m *model.Model) {
	pruneWith(t, m, func(gr graph.Group, seen map[int]int) bool {
		switch gr.Kind {
		case "attention":
			return gr.Layer == 0 && gr.Producers[0].Ranges[0].Lo == 0
		case "mlp":
			seen[gr.Layer]++
			return seen[gr.Layer]%5 == 0
		}
		return false
	})
}
