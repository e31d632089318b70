package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/safetensors"
	"github.com/shear-ai/shear/runtime/tensor"
)

const stories = "../../../shared/models/stories260K.gguf"

func loadStories(t *testing.T, dt tensor.DType) *model.Model {
	t.Helper()
	m, err := model.Load(stories, model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomGQA is a tied GQA model with stories260K's vocabulary.
func randomGQA(t *testing.T, dt tensor.DType) *model.Model {
	t.Helper()
	src := loadStories(t, tensor.F32)
	c := model.UniformConfig(64, 96, 2, 4, 2, src.Vocab, 128)
	c.Tied = true
	c.RopeBase, c.NormEps = 500000, 1e-6
	m, err := model.NewRandom(c, dt, 7)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	return m
}

// ggufOf serializes a model to GGUF and parses it back.
func ggufOf(t *testing.T, m *model.Model) *gguf.File {
	t.Helper()
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sameTensors checks that two GGUF files hold the same tensors, byte for byte.
func sameTensors(t *testing.T, a, b *gguf.File) {
	t.Helper()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors vs %d", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		ta := &a.Tensors[i]
		tb, ok := b.Tensor(ta.Name)
		if !ok {
			t.Fatalf("tensor %s missing after round trip", ta.Name)
		}
		if ta.Type != tb.Type || !slices.Equal(ta.Dims, tb.Dims) || !bytes.Equal(a.TensorData(ta), b.TensorData(tb)) {
			t.Fatalf("tensor %s differs: %s %v vs %s %v", ta.Name, ta.Type, ta.Dims, tb.Type, tb.Dims)
		}
	}
}

func maxLogitDiff(t *testing.T, a, b *model.Model, toks []int) float64 {
	t.Helper()
	la, err := a.NewState(len(toks), len(toks)).Forward(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	la = slices.Clone(la)
	lb, err := b.NewState(len(toks), len(toks)).Forward(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	d := 0.0
	for i := range la {
		d = max(d, math.Abs(float64(la[i]-lb[i])))
	}
	return d
}

var probe = []int{1, 403, 407, 261, 378, 432, 383, 286}

// TestRoundTrip: GGUF → HF → GGUF gives the same tensor bytes (f32 and f16,
// stories260K and a random tied GQA model) and the same logits.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		m    func(*testing.T, tensor.DType) *model.Model
		dt   tensor.DType
	}{
		{"stories-f32", loadStories, tensor.F32},
		{"stories-f16", loadStories, tensor.F16},
		{"gqa-f32", randomGQA, tensor.F32},
		{"gqa-f16", randomGQA, tensor.F16},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m(t, c.dt)
			dir := filepath.Join(t.TempDir(), "hf")
			if err := Save(m, dir, SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			m2, err := Load(dir, model.LoadOptions{DType: c.dt})
			if err != nil {
				t.Fatal(err)
			}
			sameTensors(t, ggufOf(t, m), ggufOf(t, m2))
			if m2.Tied != m.Tied || m2.RopeBase != m.RopeBase || m2.NormEps != m.NormEps || m2.CtxLen != m.CtxLen {
				t.Errorf("config differs: %+v vs %+v", m2.Config, m.Config)
			}
			if d := maxLogitDiff(t, m, m2, probe); d > 1e-5 {
				t.Errorf("logits differ by %g", d)
			}
			v1, v2 := m.Tok.Vocab(), m2.Tok.Vocab()
			if !slices.Equal(v1.Tokens, v2.Tokens) || !slices.Equal(v1.Types, v2.Types) || v1.BOS != v2.BOS || v1.EOS != v2.EOS {
				t.Error("vocabulary differs")
			}
		})
	}
}

// TestReferenceForward checks the q/k permutation against transformers'
// semantics rather than against itself: a plain LLaMA forward written the
// HF way (rotate-half RoPE on the HF tensors as stored) must give the
// logits Shear gives on the GGUF model.
func TestReferenceForward(t *testing.T) {
	for _, mk := range []func(*testing.T, tensor.DType) *model.Model{loadStories, randomGQA} {
		m := mk(t, tensor.F32)
		files, err := Files(m, SaveOptions{DType: safetensors.F32})
		if err != nil {
			t.Fatal(err)
		}
		w := map[string][]float32{}
		for _, st := range files.Tensors {
			w[st.Name], _ = st.Float32()
		}
		ref := hfForward(&m.Config, w, probe)
		got, err := m.NewState(len(probe), len(probe)).Forward(probe, true)
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i := range got {
			d = max(d, math.Abs(float64(got[i]-ref[i])))
		}
		if d > 1e-4 {
			t.Errorf("Shear vs HF-style reference: logits differ by %g", d)
		}
	}
}

// hfForward is a direct LLaMA forward over HF tensors, with transformers'
// rotate_half RoPE: x[i] pairs with x[i + d/2].
func hfForward(c *model.Config, w map[string][]float32, toks []int) []float32 {
	D, hd, V := c.Dim, c.HeadDim, c.Vocab
	matvec := func(m []float32, x []float32, rows int) []float32 {
		cols := len(x)
		out := make([]float32, rows)
		for r := range rows {
			var s float64
			for k := range cols {
				s += float64(m[r*cols+k]) * float64(x[k])
			}
			out[r] = float32(s)
		}
		return out
	}
	rms := func(x, g []float32) []float32 {
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/float64(len(x))+float64(c.NormEps))
		out := make([]float32, len(x))
		for i := range x {
			out[i] = float32(float64(x[i])*s) * g[i]
		}
		return out
	}
	rope := func(x []float32, heads, pos int) {
		half := hd / 2
		for h := range heads {
			v := x[h*hd : (h+1)*hd]
			for i := range half {
				theta := float64(pos) * math.Pow(float64(c.RopeBase), -2*float64(i)/float64(hd))
				cs, sn := float32(math.Cos(theta)), float32(math.Sin(theta))
				a, b := v[i], v[i+half]
				v[i], v[i+half] = a*cs-b*sn, b*cs+a*sn
			}
		}
	}
	n := len(toks)
	x := make([][]float32, n)
	for i, tk := range toks {
		x[i] = slices.Clone(w["model.embed_tokens.weight"][tk*D : (tk+1)*D])
	}
	for l := range c.Layers {
		p := "model.layers." + itoa(l) + "."
		H, KV, F := c.Heads[l], c.KVHeads[l], c.FFN[l]
		ks, vs := make([][]float32, n), make([][]float32, n)
		qs := make([][]float32, n)
		for i := range n {
			xn := rms(x[i], w[p+"input_layernorm.weight"])
			qs[i] = matvec(w[p+"self_attn.q_proj.weight"], xn, H*hd)
			ks[i] = matvec(w[p+"self_attn.k_proj.weight"], xn, KV*hd)
			vs[i] = matvec(w[p+"self_attn.v_proj.weight"], xn, KV*hd)
			for _, pr := range []struct {
				name string
				x    []float32
			}{{"q", qs[i]}, {"k", ks[i]}, {"v", vs[i]}} {
				for e, b := range w[p+"self_attn."+pr.name+"_proj.bias"] { // Qwen2
					pr.x[e] += b
				}
				if g := w[p+"self_attn."+pr.name+"_norm.weight"]; g != nil { // Qwen3: RMSNorm of each head
					for h := 0; h < len(pr.x)/hd; h++ {
						copy(pr.x[h*hd:(h+1)*hd], rms(pr.x[h*hd:(h+1)*hd], g))
					}
				}
			}
			rope(qs[i], H, i)
			rope(ks[i], KV, i)
		}
		for i := range n {
			att := make([]float32, H*hd)
			for h := range H {
				kh := h / (H / KV)
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					var s float64
					for e := range hd {
						s += float64(qs[i][h*hd+e]) * float64(ks[j][kh*hd+e])
					}
					sc[j] = s / math.Sqrt(float64(hd))
					mx = max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for e := range hd {
						att[h*hd+e] += float32(sc[j] / sum * float64(vs[j][kh*hd+e]))
					}
				}
			}
			o := matvec(w[p+"self_attn.o_proj.weight"], att, D)
			for k := range D {
				x[i][k] += o[k]
			}
			xn := rms(x[i], w[p+"post_attention_layernorm.weight"])
			g := matvec(w[p+"mlp.gate_proj.weight"], xn, F)
			u := matvec(w[p+"mlp.up_proj.weight"], xn, F)
			for k := range F {
				g[k] = g[k] / (1 + float32(math.Exp(-float64(g[k])))) * u[k]
			}
			dn := matvec(w[p+"mlp.down_proj.weight"], g, D)
			for k := range D {
				x[i][k] += dn[k]
			}
		}
	}
	head := w["lm_head.weight"]
	if c.Tied {
		head = w["model.embed_tokens.weight"]
	}
	var out []float32
	for i := range n {
		out = append(out, matvec(head, rms(x[i], w["model.norm.weight"]), V)...)
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestPerLayerWidths: a model whose layers differ (including a layer
// without attention and one without MLP) round trips through
// shear_layer_widths.
func TestPerLayerWidths(t *testing.T) {
	src := loadStories(t, tensor.F32)
	c := model.UniformConfig(32, 48, 3, 4, 2, src.Vocab, 64)
	c.Heads, c.KVHeads, c.FFN = []int{4, 2, 0}, []int{2, 1, 0}, []int{40, 0, 24}
	m, err := model.NewRandom(c, tensor.F16, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(m, dir, SaveOptions{ShardBytes: 20000}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, safetensors.IndexName)); err != nil {
		t.Errorf("no shard index: %v", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !strings.Contains(string(cfg), "shear_layer_widths") {
		t.Errorf("config.json lacks shear_layer_widths:\n%s", cfg)
	}
	m2, err := Load(dir, model.LoadOptions{DType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.FFN, c.FFN) || !slices.Equal(m2.Heads, c.Heads) || !slices.Equal(m2.KVHeads, c.KVHeads) {
		t.Errorf("widths read back: %v %v %v", m2.Heads, m2.KVHeads, m2.FFN)
	}
	sameTensors(t, ggufOf(t, m), ggufOf(t, m2))
}

func TestDTypes(t *testing.T) {
	m := loadStories(t, tensor.F32)
	for _, c := range []struct {
		save string
		load tensor.DType
		tol  float64
	}{
		{"BF16", tensor.F32, 0.5},
		{"F16", tensor.F32, 0.05},
		{"F32", tensor.Q8_0, 0.5},
	} {
		dir := filepath.Join(t.TempDir(), "hf")
		if err := Save(m, dir, SaveOptions{DType: c.save}); err != nil {
			t.Fatal(err)
		}
		m2, err := Load(dir, model.LoadOptions{DType: c.load})
		if err != nil {
			t.Fatal(err)
		}
		if m2.Blocks[0].Wq.DType != c.load || m2.Blocks[0].Wdown.DType != map[bool]tensor.DType{true: tensor.F16, false: c.load}[c.load == tensor.Q8_0] {
			t.Errorf("%s→%s: storage %s/%s", c.save, c.load, m2.Blocks[0].Wq.DType, m2.Blocks[0].Wdown.DType)
		}
		if d := maxLogitDiff(t, m, m2, probe); d > c.tol {
			t.Errorf("%s→%s: logits differ by %g", c.save, c.load, d)
		}
	}
}

// write makes a valid HF directory of stories260K to corrupt.
func write(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(loadStories(t, tensor.F32), dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	b, _ = json.Marshal(c)
	os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"no config", func(t *testing.T, d string) { os.Remove(filepath.Join(d, ConfigFile)) }, "config.json"},
		{"bad json", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, ConfigFile), []byte("{"), 0o644) }, "not a valid"},
		{"model type", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["model_type"] = "gpt2" }) }, "gpt2"},
		{"rope scaling", func(t *testing.T, d string) {
			editConfig(t, d, func(c map[string]any) { c["rope_scaling"] = map[string]any{"type": "yarn", "factor": 2} })
		}, `rope_scaling type "yarn"`},
		{"llama3 parameters", func(t *testing.T, d string) {
			editConfig(t, d, func(c map[string]any) { c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8} })
		}, "low_freq_factor"},
		{"attention bias", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["attention_bias"] = true }) }, "attention_bias"},
		{"sliding window", func(t *testing.T, d string) {
			editConfig(t, d, func(c map[string]any) { c["use_sliding_window"] = true })
		}, "sliding"},
		{"hidden size", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["hidden_size"] = 48 }) }, "shape"},
		{"eps", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["rms_norm_eps"] = -1 }) }, "rms_norm_eps"},
		{"vocab", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["vocab_size"] = 100 }) }, "embed_tokens"},
		// heads × head_dim wraps to 64 = hidden_size in 64 bits (issue 17: a panic in permuteRows).
		{"head_dim overflow", func(t *testing.T, d string) {
			editConfig(t, d, func(c map[string]any) { c["head_dim"] = json.Number("2305843009213693960") })
		}, "out of range"},
		{"bos", func(t *testing.T, d string) { editConfig(t, d, func(c map[string]any) { c["bos_token_id"] = 9999 }) }, "bos_token_id"},
		{"widths", func(t *testing.T, d string) {
			editConfig(t, d, func(c map[string]any) { c["shear_layer_widths"] = map[string]any{"num_attention_heads": []int{1}} })
		}, "shear_layer_widths"},
		{"no weights", func(t *testing.T, d string) { os.Remove(filepath.Join(d, WeightsFile)) }, "neither"},
		{"pickle", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, WeightsFile))
			os.WriteFile(filepath.Join(d, "pytorch_model.bin"), []byte("x"), 0o644)
		}, "pickle"},
		{"truncated weights", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(d, WeightsFile))
			os.WriteFile(filepath.Join(d, WeightsFile), b[:len(b)/2], 0o644)
		}, "safetensors"},
		{"tokenizer cut at a piece boundary", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(d, TokenizerFile))
			off := 0
			for range 100 { // each piece: tag 0x0a, a varint length, the payload
				n, k := binary.Uvarint(b[off+1:])
				off += 1 + k + int(n)
			}
			os.WriteFile(filepath.Join(d, TokenizerFile), b[:off], 0o644)
		}, "truncated"},
		{"no tokenizer", func(t *testing.T, d string) { os.Remove(filepath.Join(d, TokenizerFile)) }, "tokenizer.model is missing"},
		{"bad tokenizer", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, TokenizerFile), []byte{0x0a, 0x10}, 0o644) }, "sentencepiece"},
		{"missing tensor", func(t *testing.T, d string) {
			retensor(t, d, func(ts []safetensors.Tensor) []safetensors.Tensor { return ts[1:] })
		}, "missing"},
		{"extra tensor", func(t *testing.T, d string) {
			retensor(t, d, func(ts []safetensors.Tensor) []safetensors.Tensor {
				x, _ := safetensors.FromFloat32("model.layers.0.self_attn.q_proj.bias", []int{64}, make([]float32, 64), "F32")
				return append(ts, x)
			})
		}, "not part of"},
		{"nan", func(t *testing.T, d string) {
			retensor(t, d, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i := range ts {
					if ts[i].Name == "model.norm.weight" {
						ts[i].Data = slices.Clone(ts[i].Data)
						copy(ts[i].Data, []byte{0, 0, 0xc0, 0x7f})
					}
				}
				return ts
			})
		}, "NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t)
			c.break_(t, dir)
			_, err := Load(dir, model.LoadOptions{DType: tensor.F32})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestHugeVocabRefusedBeforeAllocating: vocab_size 16777216 in a tiny
// config.json is refused by the embedding's shape before the vocabulary
// is padded to it (issue 17: 3.3 GB of RSS for 34 s before the error).
func TestHugeVocabRefusedBeforeAllocating(t *testing.T) {
	dir := write(t)
	editConfig(t, dir, func(c map[string]any) { c["vocab_size"] = 16777216 })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(dir, model.LoadOptions{DType: tensor.F32})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "model.embed_tokens.weight has shape") {
		t.Fatalf("error %v, want the embedding's shape", err)
	}
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
		t.Errorf("the refused load allocated %d MB", mb)
	}
}

func retensor(t *testing.T, dir string, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	f, err := safetensors.Read(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), edit(f.Tensors), f.Metadata); err != nil {
		t.Fatal(err)
	}
}

func TestSaveErrorsLeaveNothing(t *testing.T) {
	parent := t.TempDir()
	m := loadStories(t, tensor.F32)
	// Not empty: refused, contents untouched.
	full := filepath.Join(parent, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o644)
	if err := Save(m, full, SaveOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty dir: %v", err)
	}
	// A model transformers cannot express: nothing is created.
	bad := *m
	bad.Config.Gated = false
	if err := Save(&bad, filepath.Join(parent, "out"), SaveOptions{}); err == nil {
		t.Error("ungated model accepted")
	}
	biased := *m
	biased.Config.OutBias = true
	if err := Save(&biased, filepath.Join(parent, "out3"), SaveOptions{}); err == nil || !strings.Contains(err.Error(), "o_proj and down_proj biases") {
		t.Errorf("o_proj/down_proj biases: %v", err)
	}
	if err := Save(m, filepath.Join(parent, "out2"), SaveOptions{DType: "I8"}); err == nil {
		t.Error("dtype I8 accepted")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("failed saves left %v", names)
	}
	// An empty directory is filled.
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	if err := Save(m, empty, SaveOptions{}); err != nil {
		t.Errorf("empty dir: %v", err)
	}
}

// familyModel is a random model of one family on stories260K's vocabulary.
func familyModel(t *testing.T, spec model.FamilySpec, dt tensor.DType) *model.Model {
	t.Helper()
	src := loadStories(t, tensor.F32)
	spec.Vocab = src.Vocab
	c, err := model.FamilyConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(c, tensor.F32, 9)
	if err != nil {
		t.Fatal(err)
	}
	for l := range m.Blocks { // non-uniform attention, visible biases
		for _, w := range []*tensor.Matrix{m.Blocks[l].Wq, m.Blocks[l].Wk} {
			for i := range w.F32 {
				w.F32[i] *= 20
			}
		}
		for _, b := range [][]float32{m.Blocks[l].Bq, m.Blocks[l].Bk, m.Blocks[l].Bv} {
			for i := range b {
				b[i] *= 50
			}
		}
	}
	if err := m.Convert(dt); err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	return m
}

var hfFamilies = map[string]model.FamilySpec{
	"llama3-scaled": {Arch: "llama", Dim: 64, FFN: 96, Layers: 2, Heads: 4, KVHeads: 2, Ctx: 128, Tied: true, RopeBase: 500000,
		RopeScaling: model.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 64}},
	"llama-linear": {Arch: "llama", Dim: 64, FFN: 96, Layers: 2, Heads: 4, KVHeads: 4, Ctx: 128, RopeScaling: model.RopeScaling{Type: "linear", Factor: 2}},
	"qwen2":        {Arch: "qwen2", Dim: 56, FFN: 96, Layers: 2, Heads: 7, KVHeads: 1, Ctx: 128, Tied: true},
	"qwen3":        {Arch: "qwen3", Dim: 64, FFN: 96, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 24, Ctx: 128, Tied: true},
}

// TestFamilyRoundTrip: GGUF → HF → GGUF is bit-identical for every family
// in f32 and f16, config.json names the family, and — for the families
// without rope scaling — Shear's logits equal a forward written the
// transformers way on the exported tensors (Qwen: no q/k permutation and
// rotate-half RoPE; biases; per-head q/k norms).
func TestFamilyRoundTrip(t *testing.T) {
	wantType := map[string]string{"llama3-scaled": "llama", "llama-linear": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}
	for name, spec := range hfFamilies {
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16} {
			t.Run(name+"-"+dt.String(), func(t *testing.T) {
				m := familyModel(t, spec, dt)
				dir := filepath.Join(t.TempDir(), "hf")
				if err := Save(m, dir, SaveOptions{}); err != nil {
					t.Fatal(err)
				}
				raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
				if err != nil {
					t.Fatal(err)
				}
				var cfg map[string]any
				if err := json.Unmarshal(raw, &cfg); err != nil {
					t.Fatal(err)
				}
				if cfg["model_type"] != wantType[name] {
					t.Errorf("model_type %v, want %s", cfg["model_type"], wantType[name])
				}
				m2, err := Load(dir, model.LoadOptions{DType: dt})
				if err != nil {
					t.Fatal(err)
				}
				sameTensors(t, ggufOf(t, m), ggufOf(t, m2))
				if m2.Arch != m.Arch || m2.RopeScaling != m.RopeScaling || m2.QKVBias != m.QKVBias || m2.QKNorm != m.QKNorm || m2.HeadDim != m.HeadDim {
					t.Errorf("config differs: %+v vs %+v", m2.Config, m.Config)
				}
				if m.RopeScaling.Type != "" || dt != tensor.F32 {
					return
				}
				files, err := Files(m, SaveOptions{DType: safetensors.F32})
				if err != nil {
					t.Fatal(err)
				}
				w := map[string][]float32{}
				for _, st := range files.Tensors {
					w[st.Name], _ = st.Float32()
				}
				ref := hfForward(&m.Config, w, probe)
				got, err := m.NewState(len(probe), len(probe)).Forward(probe, true)
				if err != nil {
					t.Fatal(err)
				}
				d := 0.0
				for i := range got {
					d = max(d, math.Abs(float64(got[i]-ref[i])))
				}
				if d > 1e-4 {
					t.Errorf("Shear vs transformers-style forward: logits differ by %g", d)
				}
			})
		}
	}
}

// TestMistral: a MistralForCausalLM directory loads as a llama model.
func TestMistral(t *testing.T) {
	m := randomGQA(t, tensor.F32)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := Save(m, dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	editConfig(t, dir, func(c map[string]any) {
		c["model_type"], c["architectures"], c["sliding_window"] = "mistral", []string{"MistralForCausalLM"}, 4096
	})
	m2, err := Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Arch != "llama" {
		t.Errorf("arch %q, want llama", m2.Arch)
	}
	sameTensors(t, ggufOf(t, m), ggufOf(t, m2))
}

// TestRotaryBufferNames: the inv_freq buffers old checkpoints saved are
// recognised by name, and nothing else is.
func TestRotaryBufferNames(t *testing.T) {
	for name, want := range map[string]bool{
		"model.layers.0.self_attn.rotary_emb.inv_freq":   true,
		"model.layers.17.self_attn.rotary_emb.inv_freq":  true,
		"model.layers..self_attn.rotary_emb.inv_freq":    false,
		"model.layers.x.self_attn.rotary_emb.inv_freq":   false,
		"model.layers.0.self_attn.rotary_emb.inv_freq.x": false,
		"model.layers.0.self_attn.q_proj.weight":         false,
		"layers.0.self_attn.rotary_emb.inv_freq":         false,
	} {
		if got := isRotaryBuffer(name); got != want {
			t.Errorf("isRotaryBuffer(%q) = %v, want %v", name, got, want)
		}
	}
}
