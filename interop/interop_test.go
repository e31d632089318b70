//go:build interop

package interop

import (
	"encoding/json"
	"fmt"
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
			if !slices.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("llama.cpp and Shear differ from token %d:\nllama.cpp %v\nShear     %v", i, got, want)
			}
			t.Logf("%s: %d/%d greedy tokens equal (%s, %d bytes): %q", c.name, len(got), nTokens, c.dt, fileSize(path), sm.Tok.Decode(want[:16]))
		})
	}
}

func shearGreedy(t *testing.T, m *model.Model, n int) []int {
	t.Helper()
	st := m.NewState(n+1, 1)
	logits, err := st.Forward([]int{m.Tok.BOS()}, false)
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
	cmd := exec.Command("node", "greedy.mjs", path, fmt.Sprint(n))
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llama.cpp (node greedy.mjs) failed on %s: %v\n%s", path, err, out)
	}
	var res struct {
		Tokens []int `json:"tokens"`
		BOS    int   `json:"bos"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("greedy.mjs printed %q: %v", out, err)
	}
	t.Logf("llama.cpp ran in %.1fs (BOS %d)", time.Since(start).Seconds(), res.BOS)
	return res.Tokens
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// prune gives stories260K different widths per layer, the way structured
// pruning does: layer 0 keeps 3 of its 4 KV heads (KV head 1 goes, with its
// query heads 2 and 3 and the matching attn_output columns), layer 2 keeps
// 100 of its 172 FFN channels (gate/up rows and down columns).
func prune(t *testing.T, m *model.Model) {
	t.Helper()
	c := &m.Config
	c.Heads, c.KVHeads, c.FFN = slices.Clone(c.Heads), slices.Clone(c.KVHeads), slices.Clone(c.FFN)
	hd := c.HeadDim
	group := c.Heads[0] / c.KVHeads[0]
	var keepKV, keepQ []int
	for kv := range c.KVHeads[0] {
		if kv == 1 {
			continue
		}
		keepKV = append(keepKV, kv)
		for q := kv * group; q < (kv+1)*group; q++ {
			keepQ = append(keepQ, q)
		}
	}
	L := &m.Blocks[0]
	qRows, kvRows := headRows(keepQ, hd), headRows(keepKV, hd)
	L.Wq, L.Wk, L.Wv = rows(L.Wq, qRows), rows(L.Wk, kvRows), rows(L.Wv, kvRows)
	L.Wo = cols(L.Wo, qRows)
	c.Heads[0], c.KVHeads[0] = len(keepQ), len(keepKV)

	var keep []int
	for i := range c.FFN[2] {
		if (i*37)%c.FFN[2] < 100 { // a scattered subset of exactly 100
			keep = append(keep, i)
		}
	}
	if len(keep) != 100 {
		t.Fatalf("kept %d FFN channels", len(keep))
	}
	L = &m.Blocks[2]
	L.Wgate, L.Wup, L.Wdown = rows(L.Wgate, keep), rows(L.Wup, keep), cols(L.Wdown, keep)
	c.FFN[2] = len(keep)
	c.Arch = "deci"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func headRows(heads []int, hd int) []int {
	var out []int
	for _, h := range heads {
		for i := range hd {
			out = append(out, h*hd+i)
		}
	}
	return out
}

// rows keeps the given rows of an f32 matrix.
func rows(w *tensor.Matrix, keep []int) *tensor.Matrix {
	out := tensor.Zeros(len(keep), w.Cols)
	for i, r := range keep {
		copy(out.F32[i*w.Cols:(i+1)*w.Cols], w.F32[r*w.Cols:(r+1)*w.Cols])
	}
	return out
}

// cols keeps the given columns of an f32 matrix.
func cols(w *tensor.Matrix, keep []int) *tensor.Matrix {
	out := tensor.Zeros(w.Rows, len(keep))
	for r := range w.Rows {
		for j, c := range keep {
			out.F32[r*len(keep)+j] = w.F32[r*w.Cols+c]
		}
	}
	return out
}
