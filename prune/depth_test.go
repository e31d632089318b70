package prune

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shear-ai/shear/internal/llamacpp"
	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// fourBlocks is a random float32 GQA model of four blocks whose block 2
// adds nothing to the residual stream (Wo and Wdown zero): its input and
// output are the same vector, BI exactly 0.
func fourBlocks(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.NewRandom(model.UniformConfig(16, 24, 4, 4, 2, 30, 32), tensor.F32, 11)
	if err != nil {
		t.Fatal(err)
	}
	clear(m.Blocks[2].Wo.F32)
	clear(m.Blocks[2].Wdown.F32)
	return m
}

// TestBlockInfluence: BI_l is 1 − the mean over every calibration token of
// the float64 cosine between the residual stream entering block l and the
// one leaving it, as an observer of the forward pass sees them; the block
// that adds nothing has BI 0 and is the one removed first.
func TestBlockInfluence(t *testing.T) {
	m := fourBlocks(t)
	_, _, calib := tinyModel(t)
	calib[1].Tokens = calib[1].Tokens[:7] // sequences of different lengths
	bi, err := BlockInfluence(m, calib)
	if err != nil {
		t.Fatal(err)
	}
	L, d := m.Layers, m.Dim
	want := make([]float64, L)
	tokens := 0
	for _, ex := range calib {
		seen := make([][]float32, L+1)
		st := m.NewState(len(ex.Tokens), len(ex.Tokens)) // the same batching: the same float32 sums
		st.Observe = func(at model.Point, l int, rows []float32, n, width int) {
			if at == model.ResidualIn {
				seen[l] = append(seen[l], rows...)
			}
		}
		if _, err := st.Forward(ex.Tokens, true); err != nil {
			t.Fatal(err)
		}
		for i := range ex.Tokens {
			for l := 0; l < L; l++ {
				x, y := seen[l][i*d:(i+1)*d], seen[l+1][i*d:(i+1)*d]
				var xy, xx, yy float64
				for j := range x {
					xy += float64(x[j]) * float64(y[j])
					xx += float64(x[j]) * float64(x[j])
					yy += float64(y[j]) * float64(y[j])
				}
				want[l] += xy / math.Sqrt(xx) / math.Sqrt(yy)
			}
		}
		tokens += len(ex.Tokens)
	}
	for l := range want {
		want[l] = 1 - want[l]/float64(tokens)
		if math.Abs(bi[l]-want[l]) > 1e-12 {
			t.Errorf("block %d: BI %.15g, reference %.15g", l, bi[l], want[l])
		}
	}
	if math.Abs(bi[2]) > 1e-12 {
		t.Errorf("the block that adds nothing has BI %g", bi[2])
	}
	for l, b := range bi {
		if l != 2 && !(b > 1e-6) {
			t.Errorf("block %d: BI %g, want > 0", l, b)
		}
	}
	layers, err := ShortGPTLayers(m, bi, 0.1)
	if err != nil || !slices.Equal(layers, []int{2}) {
		t.Errorf("removing 10%%: layers %v (%v), want [2]", layers, err)
	}
	if _, err := BlockInfluence(m, nil); err == nil {
		t.Error("no calibration data: no error")
	}
}

// TestShortGPTLayers: the lowest-BI blocks in order, as many as bring the
// removed parameters nearest the target (at least one, never all).
func TestShortGPTLayers(t *testing.T) {
	m := fourBlocks(t)
	per, total := m.LayerParams(0), float64(m.Params())
	bi := []float64{0.3, 0.1, 0.4, 0.2}
	for _, c := range []struct {
		target float64
		want   []int
	}{
		{0.01, []int{1}},                             // below one block: one
		{1.4 * float64(per) / total, []int{1}},       // 1.4 blocks: nearer one
		{1.6 * float64(per) / total, []int{1, 3}},    // 1.6: nearer two
		{2.6 * float64(per) / total, []int{0, 1, 3}}, // sorted
		{0.99, []int{0, 1, 3}},                       // never all
	} {
		got, err := ShortGPTLayers(m, bi, c.target)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("target %.3f: %v (%v), want %v", c.target, got, err, c.want)
		}
	}
	if _, err := ShortGPTLayers(m, bi[:3], 0.2); err == nil {
		t.Error("3 influences for 4 blocks: no error")
	}
}

// TestRemoveLayers: the shallower model (its adapter merged) gives
// bit for bit the logits of the dense model (the adapter merged) whose
// removed blocks are skipped by the forward pass (no heads, no FFN), and
// the same logits after a GGUF round trip; the input is unchanged and bad
// lists are refused.
func TestRemoveLayers(t *testing.T) {
	m := tinymodel.New(4, tensor.F32, 12)
	ad := adapterWithSignal(t, m, 2, 3)
	before := ggufBytes(t, m)
	nm, nad, err := RemoveLayers(m, ad, []int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if nm.Layers != 2 || len(nm.Blocks) != 2 || len(nad.Modules) != 2 || len(nm.Heads) != 2 {
		t.Fatalf("%d layers, %d blocks, %d adapter layers, %d head counts; want 2", nm.Layers, len(nm.Blocks), len(nad.Modules), len(nm.Heads))
	}
	if !bytes.Equal(ggufBytes(t, m), before) || m.Layers != 4 || len(ad.Modules) != 4 {
		t.Fatal("RemoveLayers changed its input")
	}
	skip := m.Clone()
	if err := ad.Merge(skip); err != nil {
		t.Fatal(err)
	}
	for _, l := range []int{0, 2} {
		skip.Heads[l], skip.KVHeads[l], skip.FFN[l] = 0, 0, 0
	}
	skip.DropAbsent()
	tokens := []int{1, 7, 3, 15, 4, 4, 12, 0, 11}
	want := logitsWith(t, skip, nil, tokens)
	got := logitsWith(t, nm, nad, tokens)
	if !slices.Equal(got, want) {
		t.Fatal("the shallower model's logits differ from the dense model skipping those blocks")
	}
	f, err := gguf.Parse(ggufBytes(t, nm))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Int("llama.block_count"); n != 2 {
		t.Errorf("GGUF block_count %d, want 2", n)
	}
	re, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logitsWith(t, re, nad, tokens), got) {
		t.Error("the GGUF round trip changed the logits")
	}
	for _, bad := range [][]int{{4}, {-1}, {1, 1}, {0, 1, 2, 3}} {
		if _, _, err := RemoveLayers(m, ad, bad); err == nil {
			t.Errorf("layers %v: no error", bad)
		}
	}
	ad.Modules = ad.Modules[:3]
	if _, _, err := RemoveLayers(m, ad, []int{1}); err == nil {
		t.Error("an adapter of 3 layers on 4 blocks: no error")
	}
}

// TestShortGPTStoriesLlamaCpp: ShortGPT at 20% on stories260K removes the
// one block nearest the target (a block is 15.5% of the parameters, two 31%), its
// GGUF runs in llama.cpp with Shear's greedy tokens from BOS and
// llama-perplexity's perplexity under that tool's protocol, and recovery
// trains the shallower model.
func TestShortGPTStoriesLlamaCpp(t *testing.T) {
	m := stories(t)
	ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	dense := m.Clone()
	opt := DefaultOptions()
	opt.Method = "shortgpt"
	cm, rep, err := Prune(context.Background(), m, opt, Data{Calib: ex[:16]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.RemovedLayers) != 1 || cm.Layers != dense.Layers-1 || len(rep.BlockInfluence) != dense.Layers {
		t.Fatalf("removed %v (BI %v): %d blocks left of %d", rep.RemovedLayers, rep.BlockInfluence, cm.Layers, dense.Layers)
	}
	if rep.Ratio < 0.15 || rep.Ratio > 0.2 {
		t.Errorf("ratio %.4f, want one block's share", rep.Ratio)
	}
	t.Logf("BI %.4f: removed block %v, ratio %.4f", rep.BlockInfluence, rep.RemovedLayers, rep.Ratio)

	ropt := LoRARecover()
	ropt.Stage1Steps, ropt.Stage2Steps, ropt.Batch, ropt.Ctx, ropt.EstimateEvery, ropt.EvalEvery, ropt.SampleSeqs = 4, 0, 2, 64, 2, 0, 2
	recovered := cm.Clone()
	rrep, err := Recover(context.Background(), recovered, dense, []Subset{{"a", ex[20:60]}}, nil, ropt, nil)
	if err != nil {
		t.Fatalf("recovery of the shallower model: %v", err)
	}
	if n := len(rrep.Log1); n != 4 {
		t.Errorf("recovery ran %d steps, want 4", n)
	}

	cli := sharedPath(t, "tools/llama.cpp/bin/llama-cli")
	ppl := sharedPath(t, "tools/llama.cpp/bin/llama-perplexity")
	path := filepath.Join(t.TempDir(), "shortgpt.gguf")
	if err := cm.Save(path); err != nil {
		t.Fatal(err)
	}
	llamacpp.Check(t, cm, cli, ppl, path, sharedPath(t, "data/tinystories-dev.txt"), 40, 256)
}
