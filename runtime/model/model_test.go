package model_test

import (
	"github.com/shear-ai/shear/internal/testshared"
	"strings"

	"encoding/json"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/runtime/internal/reference"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
)

func sharedPath(t testing.TB, rel string) string { return testshared.Path(t, rel) }

func loadStories(t testing.TB, dt tensor.DType) *model.Model {
	m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func maxAbsDiff(a []float32, b []float64) float64 {
	var d float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-b[i]))
	}
	return d
}

// checkAgainstReference runs tokens through Forward both in one batch and
// token by token, and compares every row with the float64 reference.
func checkAgainstReference(t *testing.T, m *model.Model, tokens []int, tol float64) {
	t.Helper()
	ref := reference.FromModel(m).Logits(tokens)
	st := m.NewState(len(tokens), 4) // batch 4: exercises batching and the cache
	all, err := st.Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tokens {
		if d := maxAbsDiff(all[i*m.Vocab:(i+1)*m.Vocab], ref[i]); d > tol {
			t.Fatalf("batched row %d: max |Δlogit| = %g > %g", i, d, tol)
		}
	}
	st.Reset()
	for i, tok := range tokens {
		logits, err := st.Forward([]int{tok}, false)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(logits, ref[i]); d > tol {
			t.Fatalf("decode step %d: max |Δlogit| = %g > %g", i, d, tol)
		}
	}
}

func TestForwardMatchesReference(t *testing.T) {
	m := loadStories(t, tensor.F32)
	checkAgainstReference(t, m, []int{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298}, 2e-4)
}

// TestVariants: GQA, MHA, tied/untied, biases, no gate and per-layer
// widths all agree with the reference.
func TestVariants(t *testing.T) {
	cases := map[string]func(c *model.Config){
		"mha":      func(c *model.Config) { c.KVHeads = []int{4, 4, 4} },
		"gqa-tied": func(c *model.Config) { c.KVHeads = []int{2, 2, 2}; c.Tied = true },
		"bias":     func(c *model.Config) { c.QKVBias = true },
		"out-bias": func(c *model.Config) { c.OutBias = true },
		"no-gate":  func(c *model.Config) { c.Gated = false },
		"per-layer": func(c *model.Config) {
			c.Heads, c.KVHeads, c.FFN = []int{4, 2, 0}, []int{2, 1, 0}, []int{40, 0, 24}
		},
		"partial-rope": func(c *model.Config) { c.RopeDim = 4 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			c := model.UniformConfig(32, 48, 3, 4, 2, 50, 64)
			mod(&c)
			m, err := model.NewRandom(c, tensor.F32, 7)
			if err != nil {
				t.Fatal(err)
			}
			// Larger weights than the default make attention non-uniform.
			for l := range m.Blocks {
				for _, w := range []*tensor.Matrix{m.Blocks[l].Wq, m.Blocks[l].Wk} {
					if w != nil {
						for i := range w.F32 {
							w.F32[i] *= 20
						}
					}
				}
			}
			checkAgainstReference(t, m, []int{1, 5, 9, 13, 2, 44, 7, 7, 30}, 1e-4)
		})
	}
}

type greedyRef struct {
	Prompt    []int `json:"prompt_tokens"`
	Generated []int `json:"generated_tokens"`
}

// TestGreedyMatchesLlamaCpp: all 256 greedy tokens from BOS equal
// llama.cpp's, with f32 and f16 storage.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	raw, err := os.ReadFile(sharedPath(t, "reference/stories260K-greedy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref greedyRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16} {
		m := loadStories(t, dt)
		st := m.NewState(len(ref.Prompt)+len(ref.Generated), 16)
		logits, err := st.Forward(ref.Prompt, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range ref.Generated {
			got := sample.Argmax(logits)
			if got != want {
				t.Fatalf("%s: token %d = %d, llama.cpp has %d", dt, i, got, want)
			}
			if logits, err = st.Forward([]int{got}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadStories(t, tensor.F32)
	st := m.NewState(4, 2)
	if _, err := st.Forward([]int{1, 600}, false); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
	if _, err := st.Forward([]int{1, 2, 3, 4, 5}, false); err == nil {
		t.Error("context overflow accepted")
	}
	if _, err := st.Forward(nil, false); err == nil {
		t.Error("empty input accepted")
	}
}

// TestDecodeAllocs: decoding a token allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	m := loadStories(t, tensor.F16)
	st := m.NewState(64, 8)
	st.Forward([]int{1}, false)
	tok := []int{5}
	allocs := testing.AllocsPerRun(20, func() {
		if st.Pos() >= 60 {
			st.Reset()
		}
		st.Forward(tok, false)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per decoded token", allocs)
	}
}

// TestTinyRandomF16: the F16 LLaMA-2-vocabulary model loads, matches the
// float64 reference and generates.
func TestTinyRandomF16(t *testing.T) {
	m, err := model.Load(sharedPath(t, "models/llama-2-tiny-random.gguf"), model.LoadOptions{DType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocab != 32000 || m.Tok.Size() != 32000 || m.Embed.DType != tensor.F16 {
		t.Fatalf("vocab %d, tokenizer %d, dtype %s", m.Vocab, m.Tok.Size(), m.Embed.DType)
	}
	tokens := append([]int{1}, m.Tok.Encode("Hello world")...)
	checkAgainstReference(t, m, tokens, 1e-4)
	st := m.NewState(32, 8)
	logits, err := st.Forward(tokens, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 16; i++ {
		if logits, err = st.Forward([]int{sample.Argmax(logits)}, false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadShapeMismatch: a tensor whose shape disagrees with the metadata
// is named in the error.
func TestLoadShapeMismatch(t *testing.T) {
	f, err := gguf.Open(sharedPath(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	b := gguf.NewBuilder()
	b.CopyMetadata(f, nil)
	for i := range f.Tensors {
		ti := f.Tensors[i]
		dims, data := ti.Dims, f.TensorData(&ti)
		if ti.Name == "blk.2.ffn_up.weight" {
			dims, data = []uint64{64, 171}, data[:64*171*4] // one row short
		}
		if err := b.AddTensor(ti.Name, ti.Type, dims, data); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	_, err = model.Load(path, model.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "blk.2.ffn_up.weight") || !strings.Contains(err.Error(), "shape") {
		t.Errorf("error %v does not name the tensor and its shape", err)
	}
	// A missing key and an absurd width are named too.
	b.Set("llama.feed_forward_length", uint32(1<<31))
	b.WriteFile(path)
	if _, err := model.Load(path, model.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "feed_forward_length") {
		t.Errorf("absurd width: %v", err)
	}
}
