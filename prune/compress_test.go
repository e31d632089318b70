package prune

import (
	"github.com/shear-ai/shear/internal/testshared"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"path/filepath"
	"strings"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

func sharedPath(t testing.TB, rel string) string { return testshared.Path(t, rel) }

func stories(t testing.TB) *model.Model {
	m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// adapterWithSignal is a rank-r adapter whose B is random, so the LoRA
// path changes the logits and must be sliced correctly.
func adapterWithSignal(t testing.TB, m *model.Model, r int, seed uint64) *lora.Adapter {
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Dropout = r, float32(2*r), 0
	ad, err := lora.New(m, cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	for _, mods := range ad.Modules {
		for _, mod := range mods {
			if mod != nil {
				for i := range mod.B {
					mod.B[i] = float32(rng.NormFloat64() * 0.02)
				}
			}
		}
	}
	return ad
}

func countKinds(g *graph.Graph) map[string]int {
	n := map[string]int{}
	for _, gr := range g.Groups {
		n[gr.Kind]++
	}
	return n
}

// logitsWith merges ad into a copy of m and runs tokens.
func logitsWith(t *testing.T, m *model.Model, ad *lora.Adapter, tokens []int) []float32 {
	t.Helper()
	c := m.Clone()
	if ad != nil {
		if err := ad.Merge(c); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.NewState(len(tokens), len(tokens)).Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func cloneAdapter(ad *lora.Adapter) *lora.Adapter {
	c := &lora.Adapter{Config: ad.Config, Modules: make([][lora.NumTargets]*lora.Module, len(ad.Modules))}
	for l := range ad.Modules {
		for t, mod := range ad.Modules[l] {
			if mod != nil {
				cp := *mod
				cp.A, cp.B = append([]float32(nil), mod.A...), append([]float32(nil), mod.B...)
				c.Modules[l][t] = &cp
			}
		}
	}
	return c
}

// pick draws up to n random prunable groups of a kind.
func pick(rng *rand.Rand, g *graph.Graph, kind string, n int) []graph.Group {
	var cands []graph.Group
	for _, gr := range g.Groups {
		if gr.Kind == kind && gr.Prunable {
			cands = append(cands, gr)
		}
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return cands[:min(n, len(cands))]
}

// checkZeroEqualsCompress is the zero-invariance property: zeroing the
// groups' producers gives the same logits as removing the groups, and
// the parameter counts drop by exactly the groups' sizes.
func checkZeroEqualsCompress(t *testing.T, m *model.Model, ad *lora.Adapter, g *graph.Graph, groups []graph.Group, tokens []int) {
	t.Helper()
	zm, zad := m.Clone(), cloneAdapter(ad)
	if err := Zero(zm, zad, groups); err != nil {
		t.Fatal(err)
	}
	want := logitsWith(t, zm, zad, tokens)
	cm, cad, err := Compress(m, ad, g, groups)
	if err != nil {
		t.Fatal(err)
	}
	got := logitsWith(t, cm, cad, tokens)
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(want[i]-got[i])))
	}
	if worst > 1e-4 {
		t.Errorf("%d groups: zeroed vs compressed logits differ by %g", len(groups), worst)
	}
	base, adp := RemovedParams(g, groups)
	// Sublayers left empty also drop their norm and the LoRA factors that
	// no group slices (A of the inputs, B of the output projection).
	d := cm.Dim
	for l := range m.Blocks {
		if m.Heads[l] > 0 && cm.Heads[l] == 0 {
			base += d
			if m.OutBias {
				base += d // Bo, folded into an earlier sublayer's bias
			}
			if m.QKNorm {
				base += 2 * m.HeadDim // shared by the heads: no group holds them
			}
			adp += 3*ad.Rank*d + d*ad.Rank
		}
		if m.FFN[l] > 0 && cm.FFN[l] == 0 {
			base += d
			if m.OutBias {
				base += d // Bdown, folded into an earlier sublayer's bias
			}
			adp += 2*ad.Rank*d + d*ad.Rank
			if !m.Gated {
				adp -= ad.Rank * d
			}
		}
	}
	if got := m.Params() - cm.Params(); got != base {
		t.Errorf("parameters dropped by %d, the groups account for %d", got, base)
	}
	if got := ad.Params() - cad.Params(); got != adp {
		t.Errorf("adapter parameters dropped by %d, the groups account for %d", got, adp)
	}
	// Groups that do not cross (no hidden channel among them) are disjoint:
	// the plain sum of their sizes is exact.
	disjoint := true
	sum := 0
	for _, gr := range groups {
		disjoint = disjoint && gr.Kind != "hidden"
		sum += gr.Params
	}
	if u, _ := RemovedParams(g, groups); disjoint && u != sum {
		t.Errorf("disjoint groups: union %d != sum %d", u, sum)
	}
}

func TestStoriesGroups(t *testing.T) {
	m := stories(t)
	g := graph.Build(m, graph.Options{Hidden: true, LoRARank: 4})
	n := countKinds(g)
	if n["attention"] != 20 || n["mlp"] != 860 || n["hidden"] != 64 || n["output"] != 1 {
		t.Fatalf("group kinds %v, want 20 attention, 860 mlp, 64 hidden, 1 output", n)
	}
	// Attention group of layer 0, KV head 1: k,v rows 8..15, q rows 16..31
	// (heads 2 and 3 share KV head 1), o columns 16..31.
	var att graph.Group
	for _, gr := range g.Groups {
		if gr.Kind == "attention" && gr.Layer == 0 && gr.Producers[0].Ranges[0].Lo > 0 {
			att = gr
			break
		}
	}
	want := map[string]graph.Range{"blk.0.attn_k.weight": {Lo: 8, Hi: 16}, "blk.0.attn_v.weight": {Lo: 8, Hi: 16}, "blk.0.attn_q.weight": {Lo: 16, Hi: 32}, "blk.0.attn_q.lora_b": {Lo: 16, Hi: 32}}
	for _, s := range att.Producers {
		if r, ok := want[s.Tensor]; ok && (len(s.Ranges) != 1 || s.Ranges[0] != r) {
			t.Errorf("%s producer ranges %v, want %v", s.Tensor, s.Ranges, r)
		}
	}
	if att.Params != (2*8+2*16)*64 {
		t.Errorf("attention group params %d, want %d", att.Params, (2*8+2*16)*64)
	}
	out := g.Groups[len(g.Groups)-1]
	if out.Kind != "output" || out.Prunable {
		t.Errorf("last group %+v should be the unprunable output", out.Kind)
	}
	// Without --hidden the hidden groups are listed but not prunable.
	g2 := graph.Build(m, graph.Options{})
	for _, gr := range g2.Groups {
		if gr.Kind == "hidden" && gr.Prunable {
			t.Fatal("hidden group prunable without Hidden")
		}
	}
}

func TestZeroEqualsCompressStories(t *testing.T) {
	m := stories(t)
	ad := adapterWithSignal(t, m, 4, 1)
	g := graph.Build(m, graph.Options{Hidden: true, LoRARank: 4})
	tokens := []int{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315}
	rng := rand.New(rand.NewPCG(2, 3))
	for trial := 0; trial < 6; trial++ {
		var groups []graph.Group
		groups = append(groups, pick(rng, g, "attention", 1+rng.IntN(6))...)
		groups = append(groups, pick(rng, g, "mlp", 1+rng.IntN(200))...)
		if trial%2 == 1 {
			groups = append(groups, pick(rng, g, "hidden", 1+rng.IntN(8))...)
		}
		checkZeroEqualsCompress(t, m, ad, g, groups, tokens)
	}
	// A whole layer's attention and another layer's whole MLP.
	var whole []graph.Group
	for _, gr := range g.Groups {
		if (gr.Kind == "attention" && gr.Layer == 1) || (gr.Kind == "mlp" && gr.Layer == 3) {
			whole = append(whole, gr)
		}
	}
	checkZeroEqualsCompress(t, m, ad, g, whole, tokens)
}

// TestVariants: the same graph code handles MHA, GQA with tied output,
// q/k/v biases and an MLP without gate.
func TestVariants(t *testing.T) {
	variants := map[string]func(c *model.Config){
		"mha":       func(c *model.Config) { c.KVHeads = []int{4, 4} },
		"gqa-tied":  func(c *model.Config) { c.Tied = true },
		"qkv-bias":  func(c *model.Config) { c.QKVBias = true },
		"out-bias":  func(c *model.Config) { c.OutBias = true },
		"no-gate":   func(c *model.Config) { c.Gated = false },
		"per-layer": func(c *model.Config) { c.Heads, c.KVHeads, c.FFN = []int{4, 2}, []int{2, 1}, []int{40, 24} },
	}
	for name, mod := range variants {
		t.Run(name, func(t *testing.T) {
			c := model.UniformConfig(32, 48, 2, 4, 2, 40, 64)
			mod(&c)
			m, err := model.NewRandom(c, tensor.F32, 9)
			if err != nil {
				t.Fatal(err)
			}
			for _, L := range m.Blocks {
				for _, w := range []*tensor.Matrix{L.Wq, L.Wk, L.Wv, L.Wo, L.Wgate, L.Wup, L.Wdown} {
					if w != nil {
						for i := range w.F32 {
							w.F32[i] *= 10
						}
					}
				}
			}
			ad := adapterWithSignal(t, m, 3, 4)
			g := graph.Build(m, graph.Options{Hidden: true, LoRARank: 3})
			n := countKinds(g)
			wantAtt, wantMLP := 0, 0
			for l := 0; l < c.Layers; l++ {
				wantAtt += c.KVHeads[l]
				wantMLP += c.FFN[l]
			}
			if n["attention"] != wantAtt || n["mlp"] != wantMLP || n["hidden"] != c.Dim || n["output"] != 1 {
				t.Fatalf("kinds %v, want %d attention, %d mlp, %d hidden", n, wantAtt, wantMLP, c.Dim)
			}
			rng := rand.New(rand.NewPCG(6, 7))
			tokens := []int{1, 5, 9, 13, 2, 33, 7}
			for trial := 0; trial < 4; trial++ {
				var groups []graph.Group
				groups = append(groups, pick(rng, g, "attention", 1+rng.IntN(2))...)
				groups = append(groups, pick(rng, g, "mlp", 1+rng.IntN(30))...)
				groups = append(groups, pick(rng, g, "hidden", rng.IntN(5))...)
				checkZeroEqualsCompress(t, m, ad, g, groups, tokens)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	m := stories(t)
	g := graph.Build(m, graph.Options{})
	if _, err := Select(g, []int{99999}); err == nil {
		t.Error("missing group accepted")
	}
	if _, err := Select(g, []int{3, 3}); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := Select(g, []int{len(g.Groups) - 1}); err == nil {
		t.Error("the output group accepted")
	}
}

// familySpecs have the real GQA ratios of the families (SmolLM2 9/3,
// Qwen2.5 14/2, Qwen3 16/8, Llama-3.2 32/8), each with its own features,
// at a size fit for tests, on stories260K's vocabulary.
var familySpecs = map[string]model.FamilySpec{
	"smollm2-9-3":       {Arch: "llama", Dim: 36, FFN: 40, Layers: 2, Heads: 9, KVHeads: 3, Ctx: 64, Tied: true},
	"qwen2.5-14-2-bias": {Arch: "qwen2", Dim: 56, FFN: 40, Layers: 2, Heads: 14, KVHeads: 2, Ctx: 64, Tied: true},
	"qwen3-16-8-qknorm": {Arch: "qwen3", Dim: 32, FFN: 40, Layers: 2, Heads: 16, KVHeads: 8, HeadDim: 4, Ctx: 64, Tied: true},
	"llama3.2-32-8": {Arch: "llama", Dim: 64, FFN: 40, Layers: 2, Heads: 32, KVHeads: 8, Ctx: 64, Tied: true, RopeBase: 500000,
		RopeScaling: model.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 16}},
}

func familyModel(t *testing.T, spec model.FamilySpec) *model.Model {
	t.Helper()
	src := stories(t)
	spec.Vocab = src.Vocab
	c, err := model.FamilyConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(c, tensor.F32, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Matrices() {
		for i := range (*r.Mat).F32 {
			(*r.Mat).F32[i] *= 10
		}
	}
	for l := range m.Blocks {
		for _, b := range [][]float32{m.Blocks[l].Bq, m.Blocks[l].Bk, m.Blocks[l].Bv} {
			for i := range b {
				b[i] *= 20
			}
		}
	}
	m.Tok = src.Tok
	return m
}

// TestFamilies: the graph derives every family's groups with no
// per-family code — one attention group per KV head whatever the GQA
// ratio, biases sliced with their rows, Qwen3's shared q/k norms in no
// group (kept whole), hidden channels through a tied embedding — and
// zeroing equals compressing for each. A compressed model with per-layer
// widths saves to GGUF and to Hugging Face and reloads to the same logits.
func TestFamilies(t *testing.T) {
	for name, spec := range familySpecs {
		t.Run(name, func(t *testing.T) {
			m := familyModel(t, spec)
			c := &m.Config
			ad := adapterWithSignal(t, m, 2, 4)
			g := graph.Build(m, graph.Options{Hidden: true, LoRARank: 2})
			n := countKinds(g)
			if n["attention"] != c.Layers*spec.KVHeads || n["mlp"] != c.Layers*spec.FFN || n["hidden"] != c.Dim || n["output"] != 1 {
				t.Fatalf("kinds %v, want %d attention, %d mlp, %d hidden", n, c.Layers*spec.KVHeads, c.Layers*spec.FFN, c.Dim)
			}
			group := spec.Heads / spec.KVHeads
			for _, gr := range g.Groups {
				for _, s := range append(append(append([]graph.Slice(nil), gr.Producers...), gr.Consumers...), gr.Elements...) {
					if _, base, _, _ := model.SplitName(s.Tensor); base == "attn_q_norm" || base == "attn_k_norm" || base == "rope_freqs" {
						t.Fatalf("group %d slices %s, which every head shares", gr.ID, s.Tensor)
					}
				}
				if gr.Kind != "attention" {
					continue
				}
				for _, s := range gr.Producers {
					_, base, suffix, _ := model.SplitName(s.Tensor)
					want := map[string]int{"attn_q": group * c.HeadDim, "attn_k": c.HeadDim, "attn_v": c.HeadDim}[base]
					if (suffix == "weight" || suffix == "bias") && want > 0 && s.Len() != want {
						t.Errorf("group %d: %s has %d rows, want %d", gr.ID, s.Tensor, s.Len(), want)
					}
				}
				if c.QKVBias && len(gr.Producers) != 3*2+3 { // q, k, v weights, their LoRA B and their biases
					t.Errorf("group %d producers %d, want q/k/v weights, biases and LoRA B", gr.ID, len(gr.Producers))
				}
			}
			rng := rand.New(rand.NewPCG(6, 7))
			tokens := []int{1, 5, 9, 13, 2, 33, 7, 100, 200, 300}
			for trial := 0; trial < 3; trial++ {
				var groups []graph.Group
				groups = append(groups, pick(rng, g, "attention", 1+rng.IntN(3))...)
				groups = append(groups, pick(rng, g, "mlp", 1+rng.IntN(20))...)
				groups = append(groups, pick(rng, g, "hidden", rng.IntN(6))...)
				checkZeroEqualsCompress(t, m, ad, g, groups, tokens)
			}
			var whole []graph.Group // all of layer 0's attention, some of layer 1's MLP and hidden channels
			for _, gr := range g.Groups {
				if (gr.Kind == "attention" && gr.Layer == 0) || (gr.Kind == "mlp" && gr.Layer == 1 && gr.ID%3 == 0) || (gr.Kind == "hidden" && gr.ID%5 == 0) {
					whole = append(whole, gr)
				}
			}
			checkZeroEqualsCompress(t, m, ad, g, whole, tokens)
			cm, _, err := Compress(m, nil, g, whole)
			if err != nil {
				t.Fatal(err)
			}
			if cm.Uniform() || cm.Heads[0] != 0 || cm.Heads[1] != spec.Heads {
				t.Fatalf("compressed widths %v %v %v", cm.Heads, cm.KVHeads, cm.FFN)
			}
			if c.QKNorm && len(cm.Blocks[1].QNorm) != c.HeadDim {
				t.Errorf("q norm has %d weights after pruning, want all %d", len(cm.Blocks[1].QNorm), c.HeadDim)
			}
			checkSavesAndReloads(t, cm, tokens)
		})
	}
}

// checkSavesAndReloads writes m as GGUF and as a Hugging Face directory
// and reads each back to the same logits.
func checkSavesAndReloads(t *testing.T, m *model.Model, tokens []int) {
	t.Helper()
	want := logitsWith(t, m, nil, tokens)
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	fromGGUF, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatalf("GGUF reload: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := hf.Save(m, dir, hf.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	fromHF, err := hf.Load(dir, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatalf("HF reload: %v", err)
	}
	for name, m2 := range map[string]*model.Model{"GGUF": fromGGUF, "HF": fromHF} {
		got := logitsWith(t, m2, nil, tokens)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("%s reload: logit %d is %v, was %v", name, i, got[i], want[i])
			}
		}
	}
}

// TestFoldEmptiedBiases: a sublayer emptied whole hands its output bias to
// the nearest earlier one (layer 0's attention: to the embedding rows),
// so the compressed model computes the zeroed one; a tied embedding
// cannot take it and is refused.
func TestFoldEmptiedBiases(t *testing.T) {
	for _, tied := range []bool{false, true} {
		c := model.UniformConfig(32, 48, 2, 4, 2, 40, 64)
		c.OutBias, c.Tied = true, tied
		m, err := model.NewRandom(c, tensor.F32, 3)
		if err != nil {
			t.Fatal(err)
		}
		g := graph.Build(m, graph.Options{LoRARank: 2})
		var groups []graph.Group
		for _, gr := range g.Groups {
			// Every head of layer 0, and every MLP channel of layer 1.
			if gr.Kind == "attention" && gr.Layer == 0 || gr.Kind == "mlp" && gr.Layer == 1 {
				groups = append(groups, gr)
			}
		}
		if tied {
			if _, _, err := Compress(m, nil, g, groups); err == nil || !strings.Contains(err.Error(), "tied") {
				t.Errorf("tied: %v", err)
			}
			continue
		}
		// Larger biases than the random ones, so that a lost one shows.
		for l := range m.Blocks {
			for _, b := range [][]float32{m.Blocks[l].Bo, m.Blocks[l].Bdown} {
				for i := range b {
					b[i] *= 20
				}
			}
		}
		checkZeroEqualsCompress(t, m, adapterWithSignal(t, m, 2, 1), g, groups, []int{1, 5, 9, 13, 2, 33, 7})
	}
}

// TestCompressKeepsF16: an f16 model is sliced as stored, giving the bits
// the float32 path gives for the same values; the result stays f16.
func TestCompressKeepsF16(t *testing.T) {
	m, g, _ := tinyModel(t)
	if err := m.Convert(tensor.F16); err != nil {
		t.Fatal(err)
	}
	var groups []graph.Group
	for i, id := range prunableIDs(g) {
		if i%3 == 0 {
			groups = append(groups, g.Groups[id])
		}
	}
	widened := m.Clone()
	if err := widened.Convert(tensor.F32); err != nil {
		t.Fatal(err)
	}
	half, _, err := Compress(m, nil, g, groups)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := Compress(widened, nil, g, groups)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.Convert(tensor.F16); err != nil {
		t.Fatal(err)
	}
	wt := want.Tensors()
	for i, r := range half.Tensors() {
		if r.Mat == nil {
			continue
		}
		got, exp := *r.Mat, *wt[i].Mat
		if got.DType != tensor.F16 || got.Rows != exp.Rows || got.Cols != exp.Cols || !slices.Equal(got.F16, exp.F16) {
			t.Errorf("%s: %s %d×%d, want the float32 path's f16 %d×%d bits", r.Name, got.DType, got.Rows, got.Cols, exp.Rows, exp.Cols)
		}
	}
}

// TestCompressCopiesOnce: Compress allocates about the compressed model's
// size (each kept weight copied once, not a clone of m first), and the
// result shares no data with m: zeroing it leaves m as it was.
func TestCompressCopiesOnce(t *testing.T) {
	m, err := model.NewRandom(model.UniformConfig(128, 256, 4, 8, 4, 300, 64), tensor.F16, 3)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.Build(m, graph.Options{})
	var groups []graph.Group
	for i, id := range prunableIDs(g) {
		if i%4 == 0 {
			groups = append(groups, g.Groups[id])
		}
	}
	before := m.Clone()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cm, _, err := Compress(m, nil, g, groups)
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, r := range cm.Tensors() {
		if r.Mat != nil {
			size += (*r.Mat).Bytes()
		} else {
			size += 4 * len(*r.Vec)
		}
	}
	if got := ms1.TotalAlloc - ms0.TotalAlloc; got > uint64(size)*5/4 {
		t.Errorf("Compress allocated %d bytes for a %d-byte result", got, size)
	}
	for _, r := range cm.Tensors() {
		if r.Mat != nil {
			clear((*r.Mat).F16)
		} else {
			clear(*r.Vec)
		}
	}
	bt := before.Tensors()
	for i, r := range m.Tensors() {
		if r.Mat != nil && !slices.Equal((*r.Mat).F16, (*bt[i].Mat).F16) || r.Vec != nil && !slices.Equal(*r.Vec, *bt[i].Vec) {
			t.Errorf("%s changed with the compressed model", r.Name)
		}
	}
}
