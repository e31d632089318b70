package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
)

// sharedPath finds ../shared/rel beside the repository root.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			t.Skipf("../shared/%s not found above %s", rel, dir)
		}
	}
}

func loadStories(t testing.TB, dt tensor.DType) *Model {
	m, err := Load(sharedPath(t, "models/stories260K.gguf"), LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// referenceLogits is a float64 transformer written from the equations,
// sharing no code with forward.go: full recompute, no cache, no SIMD.
func referenceLogits(m *Model, tokens []int) [][]float64 {
	c := m.Config
	hd, n := c.HeadDim, len(tokens)
	mat := func(t *tensor.Matrix) [][]float64 {
		f := t.Float32()
		out := make([][]float64, t.Rows)
		for r := range out {
			out[r] = make([]float64, t.Cols)
			for j := range out[r] {
				out[r][j] = float64(f[r*t.Cols+j])
			}
		}
		return out
	}
	mv := func(w [][]float64, x []float64) []float64 {
		y := make([]float64, len(w))
		for r := range w {
			for j, v := range x {
				y[r] += w[r][j] * v
			}
		}
		return y
	}
	norm := func(x []float64, w []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		s := 1 / math.Sqrt(ss/float64(len(x))+float64(c.NormEps))
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * s * float64(w[i])
		}
		return y
	}
	rope := func(x []float64, heads, pos int) {
		for h := 0; h < heads; h++ {
			for i := 0; i < c.RopeDim/2; i++ {
				th := float64(pos) * math.Pow(float64(c.RopeBase), -2*float64(i)/float64(c.RopeDim))
				a, b := x[h*hd+2*i], x[h*hd+2*i+1]
				x[h*hd+2*i] = a*math.Cos(th) - b*math.Sin(th)
				x[h*hd+2*i+1] = a*math.Sin(th) + b*math.Cos(th)
			}
		}
	}
	addv := func(x []float64, b []float32) {
		for i := range b {
			x[i] += float64(b[i])
		}
	}
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	emb := mat(m.Embed)
	xs := make([][]float64, n)
	for i, t := range tokens {
		xs[i] = append([]float64(nil), emb[t]...)
	}
	for l := range m.Blocks {
		L := &m.Blocks[l]
		H, KV, ff := c.Heads[l], c.KVHeads[l], c.FFN[l]
		if H > 0 {
			wq, wk, wv, wo := mat(L.Wq), mat(L.Wk), mat(L.Wv), mat(L.Wo)
			qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
			for i := range xs {
				xn := norm(xs[i], L.AttnNorm)
				qs[i], ks[i], vs[i] = mv(wq, xn), mv(wk, xn), mv(wv, xn)
				addv(qs[i], L.Bq)
				addv(ks[i], L.Bk)
				addv(vs[i], L.Bv)
				rope(qs[i], H, i)
				rope(ks[i], KV, i)
			}
			for i := range xs {
				o := make([]float64, H*hd)
				for h := 0; h < H; h++ {
					kh := h / (H / KV)
					sc := make([]float64, i+1)
					mx := math.Inf(-1)
					for j := 0; j <= i; j++ {
						for e := 0; e < hd; e++ {
							sc[j] += qs[i][h*hd+e] * ks[j][kh*hd+e]
						}
						sc[j] /= math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[j])
					}
					var sum float64
					for j := range sc {
						sc[j] = math.Exp(sc[j] - mx)
						sum += sc[j]
					}
					for j := range sc {
						for e := 0; e < hd; e++ {
							o[h*hd+e] += sc[j] / sum * vs[j][kh*hd+e]
						}
					}
				}
				for r, v := range mv(wo, o) {
					xs[i][r] += v
				}
			}
		}
		if ff > 0 {
			wu, wdn := mat(L.Wup), mat(L.Wdown)
			var wg [][]float64
			if L.Wgate != nil {
				wg = mat(L.Wgate)
			}
			for i := range xs {
				xn := norm(xs[i], L.FFNNorm)
				u := mv(wu, xn)
				if wg != nil {
					gt := mv(wg, xn)
					for j := range u {
						u[j] *= silu(gt[j])
					}
				} else {
					for j := range u {
						u[j] = silu(u[j])
					}
				}
				for r, v := range mv(wdn, u) {
					xs[i][r] += v
				}
			}
		}
	}
	out := mat(m.Output)
	logits := make([][]float64, n)
	for i := range xs {
		logits[i] = mv(out, norm(xs[i], m.OutNorm))
	}
	return logits
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
func checkAgainstReference(t *testing.T, m *Model, tokens []int, tol float64) {
	t.Helper()
	ref := referenceLogits(m, tokens)
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
	cases := map[string]func(c *Config){
		"mha":      func(c *Config) { c.KVHeads = []int{4, 4, 4} },
		"gqa-tied": func(c *Config) { c.KVHeads = []int{2, 2, 2}; c.Tied = true },
		"bias":     func(c *Config) { c.QKVBias = true },
		"no-gate":  func(c *Config) { c.Gated = false },
		"per-layer": func(c *Config) {
			c.Heads, c.KVHeads, c.FFN = []int{4, 2, 0}, []int{2, 1, 0}, []int{40, 0, 24}
		},
		"partial-rope": func(c *Config) { c.RopeDim = 4 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			c := UniformConfig(32, 48, 3, 4, 2, 50, 64)
			mod(&c)
			m, err := NewRandom(c, tensor.F32, 7)
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
