//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	shearprune "github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/train"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/llama2c"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
)

const (
	stories = "../../shared/models/stories260K.gguf"
	nTokens = 64
)

// TestLlamaCppGreedy writes GGUF files with Shear, runs llama.cpp on each,
// and requires llama.cpp's greedy tokens to equal Shear's.
func TestLlamaCppGreedy(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping the llama.cpp interop test (install node and run `npm i -E node-llama-cpp@3.21.1` in interop/)")
	}
	if _, err := os.Stat("node_modules/node-llama-cpp/package.json"); err != nil {
		t.Fatal("node-llama-cpp is not installed: run `npm i -E node-llama-cpp@3.21.1` in interop/ (.ci/run does)")
	}
	dir := t.TempDir()
	cases := []struct {
		name string
		dt   tensor.DType
		edit func(*testing.T, *model.Model)
		via  string // "hf" or "llama2c": pass the model through that format first
		arch string
	}{
		{"stories-f32", tensor.F32, nil, "", "llama"},
		{"stories-f16", tensor.F16, nil, "", "llama"},
		{"stories-q8_0", tensor.Q8_0, nil, "", "llama"},
		{"stories-q4_0", tensor.Q4_0, nil, "", "llama"},
		{"pruned-f32", tensor.F32, prune, "", "deci"},
		{"pruned-f16", tensor.F16, prune, "", "deci"},
		{"stories-via-hf-f16", tensor.F16, nil, "hf", "llama"},
		{"pruned-via-hf-f32", tensor.F32, prune, "hf", "deci"},
		{"pruned-hidden-f32", tensor.F32, pruneHidden, "", "deci"},
		{"pruned-hidden-via-hf-f32", tensor.F32, pruneHidden, "hf", "deci"},
		{"no-attention-layer-f16", tensor.F16, pruneEmpty, "", "deci"},
		{"lorashear-20pct-f32", tensor.F32, pruneLoRAShear, "", "deci"},
		{"stories-via-llama2c-f32", tensor.F32, nil, "llama2c", "llama"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := model.Load(stories, model.LoadOptions{DType: tensor.F32})
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				c.edit(t, m)
			}
			switch c.via {
			case "hf":
				hdir := filepath.Join(dir, c.name+".hf")
				if err := hf.Save(m, hdir, hf.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
				if m, err = hf.Load(hdir, model.LoadOptions{DType: tensor.F32}); err != nil {
					t.Fatal(err)
				}
			case "llama2c":
				bin, tok := filepath.Join(dir, c.name+".bin"), filepath.Join(dir, c.name+".tokenizer.bin")
				if err := llama2c.Save(m, bin); err != nil {
					t.Fatal(err)
				}
				if err := llama2c.WriteTokenizer(tok, m.Tok.Vocab()); err != nil {
					t.Fatal(err)
				}
				v, err := llama2c.ReadTokenizer(tok, m.Vocab)
				if err != nil {
					t.Fatal(err)
				}
				if m, err = llama2c.Load(bin, v, model.LoadOptions{DType: tensor.F32}); err != nil {
					t.Fatal(err)
				}
			}
			// Store as the case's type the way a Shear user would: write f32,
			// reload at the target dtype (tensor.FromGGUF quantizes, keeping
			// rows that are not whole blocks in f16, as llama.cpp does).
			f32 := filepath.Join(dir, c.name+".src.gguf")
			if err := m.Save(f32); err != nil {
				t.Fatal(err)
			}
			if m, err = model.Load(f32, model.LoadOptions{DType: c.dt}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.name+".gguf")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if a, _ := f.String("general.architecture"); a != c.arch {
				t.Fatalf("written as arch %q, want %q", a, c.arch)
			}
			// Shear's greedy run on the file it wrote.
			sm, err := model.Load(path, model.LoadOptions{DType: c.dt})
			if err != nil {
				t.Fatal(err)
			}
			want := shearGreedy(t, sm, nTokens)
			got := llamaCppGreedy(t, path, nTokens)
			requireSameTokens(t, got, want, c.arch)
			t.Logf("%s: %d/%d greedy tokens equal (%s, %d bytes): %q", c.name, len(got), nTokens, c.dt, fileSize(path), sm.Tok.Decode(want[:16]))
		})
	}
}

// requireSameTokens fails unless llama.cpp's tokens equal Shear's.
func requireSameTokens(t *testing.T, got, want []int, arch string) {
	t.Helper()
	if !slices.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("arch %s: llama.cpp and Shear differ from token %d:\nllama.cpp %v\nShear     %v", arch, i, got, want)
	}
}

func shearGreedy(t *testing.T, m *model.Model, n int) []int {
	t.Helper()
	return shearGreedyFrom(t, m, []int{m.Tok.BOS()}, n)
}

// shearGreedyFrom is Shear's greedy continuation of input.
func shearGreedyFrom(t *testing.T, m *model.Model, input []int, n int) []int {
	t.Helper()
	st := m.NewState(len(input)+n, 1)
	logits, err := st.Forward(input, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for len(out) < n {
		tok := sample.Argmax(logits)
		out = append(out, tok)
		if logits, err = st.Forward([]int{tok}, false); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func llamaCppGreedy(t *testing.T, path string, n int) []int {
	t.Helper()
	tokens, _ := llamaCppGreedyPrompt(t, path, n, nil)
	return tokens
}

// llamaCppGreedyPrompt is llama.cpp's greedy continuation of [BOS] (prompt
// nil) or of the prompt as llama.cpp tokenizes it with add_special (see
// greedy.mjs), and that input.
func llamaCppGreedyPrompt(t *testing.T, path string, n int, prompt *string) (tokens, input []int) {
	t.Helper()
	args := []string{"greedy.mjs", path, fmt.Sprint(n)}
	if prompt != nil {
		args = append(args, *prompt)
	}
	cmd := exec.Command("node", args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llama.cpp (node greedy.mjs) failed on %s: %v\n%s", path, err, out)
	}
	var res struct {
		Tokens []int `json:"tokens"`
		BOS    int   `json:"bos"`
		Prompt []int `json:"prompt"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("greedy.mjs printed %q: %v", out, err)
	}
	t.Logf("llama.cpp ran in %.1fs (BOS %d, input %d tokens)", time.Since(start).Seconds(), res.BOS, len(res.Prompt))
	return res.Tokens, res.Prompt
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// prune gives stories260K different widths per layer through the
// dependency graph and prune.Compress, as structured pruning does: layer 0
// loses KV head 1 (with its query heads and attn_output columns) and
// layer 2 keeps 100 of its 172 FFN channels.
func prune(t *testing.T, m *model.Model) { pruneKinds(t, m, false) }

// pruneHidden also removes 4 hidden channels, which rescales every
// RMSNorm (see prune.Compress). The model is badly damaged by it, so its
// greedy path is full of near-ties: only f32 runs compare token for token
// (llama.cpp rounds activations to f16 against f16 weights, Shear does not).
func pruneHidden(t *testing.T, m *model.Model) { pruneKinds(t, m, true) }

func pruneKinds(t *testing.T, m *model.Model, hidden bool) {
	t.Helper()
	pruneWith(t, m, func(gr graph.Group, mlpSeen map[int]int) bool {
		switch gr.Kind {
		case "attention":
			return gr.Layer == 0 && gr.Producers[0].Ranges[0].Lo == 8 // KV head 1: k rows 8..15
		case "mlp":
			mlpSeen[gr.Layer]++
			return gr.Layer == 2 && (mlpSeen[2]*37)%172 >= 100
		case "hidden":
			return hidden && gr.Producers[0].Ranges[0].Lo%16 == 5
		}
		return false
	})
}

// pruneEmpty removes every head of layer 3: a layer without attention.
func pruneEmpty(t *testing.T, m *model.Model) {
	t.Helper()
	pruneWith(t, m, func(gr graph.Group, _ map[int]int) bool { return gr.Kind == "attention" && gr.Layer == 3 })
}

// pruneLoRAShear runs the LoRAShear stage itself (LHSPG with a small
// budget) to 20% of the parameters.
func pruneLoRAShear(t *testing.T, m *model.Model) {
	ex, err := train.LoadText(m.Tok, filepath.Join(filepath.Dir(stories), "../data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	cfg := shearprune.DefaultLHSPG()
	cfg.Warmup, cfg.Periods, cfg.PeriodSteps = 4, 2, 4
	opt := shearprune.Options{Method: "lorashear", Target: 0.2, LHSPG: cfg, LoRA: lora.DefaultConfig(), Optim: train.Optim{Batch: 2, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 1}}
	cm, _, err := shearprune.Prune(context.Background(), m, opt, shearprune.Data{Train: ex[:64], Calib: ex[64:65]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	*m = *cm
}

func pruneWith(t *testing.T, m *model.Model, pick func(graph.Group, map[int]int) bool) {
	g := graph.Build(m, graph.Options{Hidden: true})
	var groups []graph.Group
	seen := map[int]int{}
	for _, gr := range g.Groups {
		if gr.Prunable && pick(gr, seen) {
			groups = append(groups, gr)
		}
	}
	cm, _, err := shearprune.Compress(m, nil, g, groups)
	if err != nil {
		t.Fatal(err)
	}
	*m = *cm
}
