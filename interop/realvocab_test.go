//go:build interop

package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// realVocabFamily is a small random model of a family, made by `shear
// init` with the family's real byte-level BPE vocabulary.
type realVocabFamily struct {
	name  string
	vocab string   // llama3, qwen3 (tokenizer.json in ../shared) or smollm
	args  []string // shear init flags
}

// realVocabFamilies are familySpecs' shapes with real vocabularies: Llama-3's
// (128,256 tokens, BOS added) and Qwen3's (151,669, no BOS, NFC) from
// ../shared/models/tokenizers. SmolLM2's own tokenizer.json is not in
// ../shared: it stands in as llama.cpp's GPT-2 vocabulary under the smollm
// pre-tokenizer (SmolLM2's BPE layout; no BOS added).
var realVocabFamilies = []realVocabFamily{
	{"llama3.2-32-8-scaled", "llama3", []string{"--arch", "llama", "--dim", "256", "--hidden", "512", "--layers", "3", "--heads", "32", "--kv-heads", "8",
		"--ctx", "256", "--tied", "--rope-base", "500000", "--rope-scaling", "llama3", "--rope-factor", "32", "--rope-low-freq", "1", "--rope-high-freq", "4", "--rope-orig-ctx", "64"}},
	{"qwen2.5-14-2-bias", "qwen3", []string{"--arch", "qwen2", "--dim", "224", "--hidden", "384", "--layers", "3", "--heads", "14", "--kv-heads", "2", "--ctx", "256", "--tied"}},
	{"qwen3-16-8-qknorm", "qwen3", []string{"--arch", "qwen3", "--dim", "128", "--hidden", "384", "--layers", "3", "--heads", "16", "--kv-heads", "8", "--head-dim", "32", "--ctx", "256", "--tied"}},
	{"smollm2-9-3-tied", "smollm", []string{"--arch", "llama", "--dim", "144", "--hidden", "384", "--layers", "3", "--heads", "9", "--kv-heads", "3", "--ctx", "256", "--tied", "--rope-base", "100000"}},
}

// greedyPrompts: from BOS (where the model adds one), and a text prompt
// with the special tokens each side adds.
var greedyPrompt = "Once upon a time, there was a little girl named Lily."

var (
	shearOnce sync.Once
	shearPath string
	shearErr  error
)

// shearCLI builds cmd/shear once and runs it with args, returning stdout.
func shearCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	shearOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shear-interop-")
		if err != nil {
			shearErr = err
			return
		}
		shearPath = filepath.Join(dir, "shear")
		out, err := exec.Command("go", "build", "-o", shearPath, "../cmd/shear").CombinedOutput()
		if err != nil {
			shearErr = fmt.Errorf("go build ./cmd/shear: %v\n%s", err, out)
		}
	})
	if shearErr != nil {
		t.Fatal(shearErr)
	}
	// Earlier subtests' real-shape models are garbage by now; hand their
	// memory back so the child (a 1B prune holds ~13 GB) fits beside us.
	debug.FreeOSMemory()
	cmd := exec.Command(shearPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("shear %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// vocabSource is what --vocab-from gets for a family's vocabulary.
func vocabSource(t *testing.T, name, dir string) string {
	t.Helper()
	switch name {
	case "llama3", "qwen3":
		return filepath.Join(sharedDir, "models/tokenizers", name)
	}
	f, err := gguf.Open(sharedDir + "/models/vocab-tests/ggml-vocab-gpt-2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	v, err := tokenizer.VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	v.Pre, v.AddBOS = "smollm", false
	path := filepath.Join(dir, "smollm-vocab.gguf")
	writeVocabGGUF(t, v, "llama", path)
	return path
}

// initRealVocab makes the family's model with `shear init` (f32), with its
// weights scaled ×5 as in TestFamiliesGreedy (a decisive greedy path), and
// returns the file.
func initRealVocab(t *testing.T, f realVocabFamily, dir string) string {
	t.Helper()
	raw := filepath.Join(dir, f.name+".init.gguf")
	args := append([]string{"init", "--vocab-from", vocabSource(t, f.vocab, dir), "--dtype", "f32", "--seed", "3", "-o", raw, "--json"}, f.args...)
	shearCLI(t, args...)
	m, err := model.Load(raw, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Matrices() {
		for i := range (*r.Mat).F32 {
			(*r.Mat).F32[i] *= 5
		}
	}
	path := filepath.Join(dir, f.name+".gguf")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// storeAs writes the model at src as dt the way a user would (load at dt,
// write) and returns it loaded back, its file and its architecture.
func storeAs(t *testing.T, src string, dt tensor.DType, path string) (*model.Model, string) {
	t.Helper()
	m, err := model.Load(src, model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
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
	return sm, arch
}

// greedyBothWays compares llama.cpp and Shear from BOS (when the model
// adds one) and from greedyPrompt.
func greedyBothWays(t *testing.T, sm *model.Model, path, arch string, dt tensor.DType) {
	t.Helper()
	if sm.Tok.AddBOS() {
		compareGreedy(t, sm, path, arch, dt, nil)
	}
	compareGreedy(t, sm, path, arch, dt, &greedyPrompt)
}

// TestRealVocabGreedy: each family with its real vocabulary, made by
// `shear init --vocab-from`, in f16 and q8_0: llama.cpp's greedy tokens
// equal Shear's from BOS (Llama-3) and from a text prompt tokenized by
// each with the special tokens its vocabulary adds (BOS for Llama-3, none
// for Qwen and SmolLM2).
func TestRealVocabGreedy(t *testing.T) {
	requireClient(t)
	dir := t.TempDir()
	for _, f := range realVocabFamilies {
		t.Run(f.name, func(t *testing.T) {
			src := initRealVocab(t, f, dir)
			for _, dt := range []tensor.DType{tensor.F16, tensor.Q8_0} {
				t.Run(dt.String(), func(t *testing.T) {
					sm, arch := storeAs(t, src, dt, filepath.Join(dir, f.name+"-"+dt.String()+".gguf"))
					if (f.vocab == "llama3") != sm.Tok.AddBOS() {
						t.Fatalf("add_bos %v for the %s vocabulary", sm.Tok.AddBOS(), f.vocab)
					}
					greedyBothWays(t, sm, filepath.Join(dir, f.name+"-"+dt.String()+".gguf"), arch, dt)
				})
			}
		})
	}
}

// layerShare is the fraction of a model's parameters in its layers: with
// a real vocabulary the embedding dwarfs these small models, so "20%" is
// 20% of the layers (prune's --target counts all parameters).
func layerShare(t *testing.T, path string) float64 {
	t.Helper()
	m, err := model.Load(path, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	embed := m.Vocab * m.Dim
	return float64(m.Params()-embed) / float64(m.Params())
}

// TestPrunedRealVocab: each family with its real vocabulary, pruned by 20%
// of its layers' parameters with `shear prune --method magnitude` and with
// a short `shear lorashear` (one LHSPG period of two steps, two recovery
// steps, after the knowledge analysis of the defaults: the estimate over
// every group and exact probes of those nearest the top-γ boundary), then: llama.cpp's
// greedy tokens equal Shear's (f16; pruned qwen3 is skipped, see
// checkFamilyGreedy), and an HF safetensors round trip gives bit-identical
// logits in Shear.
func TestPrunedRealVocab(t *testing.T) {
	requireClient(t)
	dir := t.TempDir()
	text := tinyStoriesText(t, dir)
	for _, f := range realVocabFamilies {
		t.Run(f.name, func(t *testing.T) {
			src := initRealVocab(t, f, dir)
			for _, method := range []string{"magnitude", "lorashear"} {
				t.Run(method, func(t *testing.T) { checkPruned(t, src, text, method, filepath.Join(dir, f.name+"-"+method)) })
			}
		})
	}
}

// tinyStoriesText writes the first 200 kB of ../shared's TinyStories
// text, the training data of the pruned-model tests, into dir.
func tinyStoriesText(t *testing.T, dir string) string {
	t.Helper()
	text := filepath.Join(dir, "text.txt")
	b, err := os.ReadFile(sharedDir + "/data/tinystories-dev.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, b[:200000], 0o644); err != nil {
		t.Fatal(err)
	}
	return text
}

// checkPruned prunes the model at src by 20% of its layers' parameters
// with method (magnitude, or a short lorashear: one LHSPG period of two
// steps, two recovery steps, after the defaults' knowledge analysis on
// two calibration sequences) into base.gguf, then requires an HF
// safetensors round trip to give bit-identical logits in Shear and
// llama.cpp's greedy tokens (f16) to equal Shear's (pruned qwen3 is
// skipped, see checkFamilyGreedy).
func checkPruned(t *testing.T, src, text, method, base string) {
	t.Helper()
	target := fmt.Sprintf("%.4f", 0.2*layerShare(t, src))
	out := base + ".gguf"
	common := []string{"-m", src, "--target", target, "--data", text, "--dtype", "f32", "-o", out, "--json", "--threads", "2"}
	if method == "magnitude" {
		shearCLI(t, append([]string{"prune", "--method", "magnitude", "--recover-steps", "0"}, common...)...)
	} else {
		shearCLI(t, append([]string{"lorashear", "--periods", "1", "--period-steps", "2", "--lhspg-warmup", "1",
			"--recover-steps", "2", "--instruct-steps", "0", "--ctx", "32", "--batch", "1", "--calib-seqs", "2", "--eval-chunks", "2",
			"--report", base + "-report"}, common...)...)
	}
	pm, err := model.Load(out, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	srcM, err := model.Load(src, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	removed := float64(srcM.Params()-pm.Params()) / float64(srcM.Params()-srcM.Vocab*srcM.Dim)
	t.Logf("%s: %d → %d parameters, %.1f%% of the layers removed; heads %v kv %v ffn %v", method, srcM.Params(), pm.Params(), 100*removed, pm.Heads, pm.KVHeads, pm.FFN)
	if removed < 0.15 || removed > 0.25 {
		t.Errorf("%.1f%% of the layers' parameters removed, want about 20%%", 100*removed)
	}
	if slices.Equal(pm.FFN, srcM.FFN) && slices.Equal(pm.Heads, srcM.Heads) {
		t.Fatal("nothing was pruned")
	}
	srcM = nil
	hfRoundTrip(t, pm, base+"-hf")
	os.RemoveAll(base + "-hf")
	if pm.Arch == "qwen3" && !pm.Uniform() {
		t.Skip("llama.cpp's qwen3 takes every layer's head counts and FFN width from layer 0, and deci has no q/k norms: " +
			"no GGUF architecture runs a qwen3 model with per-layer widths (docs/FORMATS.md)")
	}
	pm = nil
	sm, arch := storeAs(t, out, tensor.F16, base+"-f16.gguf")
	greedyBothWays(t, sm, base+"-f16.gguf", arch, tensor.F16)
}

// hfRoundTrip saves m as Hugging Face safetensors (f32) and loads it back:
// the prompt's tokens and every logit must be identical.
func hfRoundTrip(t *testing.T, m *model.Model, dir string) {
	t.Helper()
	if err := hf.Save(m, dir, hf.SaveOptions{DType: "F32"}); err != nil {
		t.Fatal(err)
	}
	back, err := hf.Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	input := m.Tok.EncodeWith(greedyPrompt, tokenizer.EncodeOptions{AddSpecial: true})
	if got := back.Tok.EncodeWith(greedyPrompt, tokenizer.EncodeOptions{AddSpecial: true}); !slices.Equal(got, input) {
		t.Fatalf("HF round trip: the prompt tokenizes as %v, was %v", got, input)
	}
	logits := func(m *model.Model) []float32 {
		st := m.NewState(len(input), 1)
		out, err := st.Forward(input, true)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}
	cmp := back
	if back.Arch != m.Arch {
		// A pruned Qwen2 is deci in GGUF (q/k rows as adjacent pairs) and
		// Qwen2 in HF (rotate-half order): compare the GGUF it writes.
		path := dir + ".gguf"
		if err := back.Save(path); err != nil {
			t.Fatal(err)
		}
		if cmp, err = model.Load(path, model.LoadOptions{DType: tensor.F32}); err != nil {
			t.Fatal(err)
		}
		t.Logf("HF round trip: %s in GGUF, %s in HF", m.Arch, back.Arch)
	}
	a, b := logits(m), logits(cmp)
	if !slices.Equal(a, b) {
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		t.Fatalf("HF round trip: logits differ from index %d (%v vs %v)", i, a[i], b[i])
	}
	t.Logf("HF round trip: %d logits identical (arch %s, per-layer ffn %v)", len(a), back.Arch, back.FFN)
}
