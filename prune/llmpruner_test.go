package prune

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// elementSaliency64 is the reference of LLM-Pruner's param_first group
// importance in float64: Σ |w·g| over the group's base producer rows and
// consumer columns, read straight from the matrices by row and column.
func elementSaliency64(t *testing.T, m *model.Model, gr *graph.Group, grad func(string) []float32) float64 {
	t.Helper()
	var s float64
	for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers} {
		for _, sl := range list {
			if graph.IsLoRA(sl.Tensor) {
				continue
			}
			r, err := m.Tensor(sl.Tensor)
			if err != nil || r.Mat == nil {
				t.Fatalf("%s: not a matrix (%v)", sl.Tensor, err)
			}
			w, g := (*r.Mat).F32, grad(sl.Tensor)
			rows, cols := (*r.Mat).Rows, (*r.Mat).Cols
			for _, i := range sl.Indices() {
				if sl.Axis == 0 { // row i
					for c := 0; c < cols; c++ {
						s += math.Abs(float64(w[i*cols+c]) * float64(g[i*cols+c]))
					}
				} else { // column i
					for r := 0; r < rows; r++ {
						s += math.Abs(float64(w[r*cols+i]) * float64(g[r*cols+i]))
					}
				}
			}
		}
	}
	return s
}

// TestLLMPrunerScores: each attention and MLP group's score is the float64
// sum of |w·∂L/∂w| over its rows and columns, and the gradients it uses
// are those of the mean calibration loss: central differences of the loss
// on the largest-saliency entry of a spread of groups agree.
func TestLLMPrunerScores(t *testing.T) {
	m, _, calib := tinyModel(t)
	tr, g := gradTrainer(t, m, 12)
	scores, err := LLMPrunerScores(tr, g, calib)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, gr := range g.Groups {
		if !gr.Prunable || (gr.Kind != "attention" && gr.Kind != "mlp") {
			if _, ok := scores[gr.ID]; ok {
				t.Errorf("group %d (%s) has a score", gr.ID, gr.Kind)
			}
			continue
		}
		kinds[gr.Kind]++
		want := elementSaliency64(t, m, &gr, tr.WeightGrad)
		if got := scores[gr.ID]; math.Abs(got-want) > 1e-12*want || want == 0 {
			t.Errorf("group %d (%s): score %.15g, reference %.15g", gr.ID, gr.Kind, got, want)
		}
	}
	if kinds["attention"] == 0 || kinds["mlp"] == 0 {
		t.Fatalf("scored kinds %v, want attention and MLP groups", kinds)
	}

	loss := calibLoss(t, tr, calib)
	checked := 0
	for _, gr := range g.Groups {
		if _, ok := scores[gr.ID]; !ok || gr.ID%5 != 0 {
			continue
		}
		// The entry of the group with the largest |w·g|.
		var best *float32
		var bestGrad, bestSal float64
		for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers} {
			for _, sl := range list {
				if graph.IsLoRA(sl.Tensor) {
					continue
				}
				err := eachEntry(m, sl, func(w, gw *float32) {
					if s := math.Abs(float64(*w) * float64(*gw)); s > bestSal {
						best, bestGrad, bestSal = w, float64(*gw), s
					}
				}, tr.WeightGrad(sl.Tensor))
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		const h = 1e-2
		w0 := *best
		*best = w0 + h
		up := loss()
		*best = w0 - h
		down := loss()
		*best = w0
		fd := (up - down) / (2 * h)
		if math.Abs(fd-bestGrad) > 0.01*math.Abs(bestGrad)+2e-6 {
			t.Errorf("group %d (%s): ∂L/∂w %.6g, central difference %.6g", gr.ID, gr.Kind, bestGrad, fd)
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("checked %d gradients", checked)
	}
}

// gradTrainer is a trainer of batch 2 and context T computing m's base
// gradients (the default LoRA without dropout, as the baselines run it)
// and m's graph with that LoRA.
func gradTrainer(t *testing.T, m *model.Model, T int) (*train.Trainer, *graph.Graph) {
	t.Helper()
	lc := lora.DefaultConfig()
	lc.Dropout = 0
	tr, err := train.New(m, train.Options{LoRA: lc, Batch: 2, Ctx: T, Seed: 1, BaseGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	return tr, graph.Build(m, graph.Options{LoRARank: lc.Rank})
}

// calibLoss returns the mean loss over calib's batches, forward only, of
// tr's model as it is at each call (what accumulateBaseGrads
// differentiates).
func calibLoss(t *testing.T, tr *train.Trainer, calib []train.Example) func() float64 {
	tks, tgs := train.Batches(calib, tr.B, tr.T)
	return func() float64 {
		var s float64
		for i := range tks {
			l, _, err := tr.Loss(tks[i], tgs[i])
			if err != nil {
				t.Fatal(err)
			}
			s += l / float64(len(tks))
		}
		return s
	}
}

// TestLLMPrunerLayers: the script's blocks 4..29 of 32, mapped to other
// depths with each end rounded half up.
func TestLLMPrunerLayers(t *testing.T) {
	for _, c := range []struct{ n, lo, hi int }{{32, 4, 30}, {40, 5, 37}, {12, 2, 11}, {8, 1, 7}, {5, 1, 5}, {2, 0, 2}, {1, 0, 1}} {
		if lo, hi := LLMPrunerLayers(c.n); lo != c.lo || hi != c.hi {
			t.Errorf("%d blocks: range %d..%d, want %d..%d", c.n, lo, hi-1, c.lo, c.hi-1)
		}
	}
}

// TestLLMPrunerRatio: on an 8-block MHA model (blocks 1..6 pruned), the
// run removes groups only inside the range, the same number from every
// sublayer of a kind (one ratio), each the lowest-scoring of its sublayer,
// and reaches the target with the smallest such ratio: a brute-force scan
// of ratios k/20000 with the channel rule of torch-pruning finds the
// same counts. A target beyond the range's groups is refused.
func TestLLMPrunerRatio(t *testing.T) {
	m, err := model.NewRandom(model.UniformConfig(16, 24, 8, 4, 4, 30, 32), tensor.F32, 9)
	if err != nil {
		t.Fatal(err)
	}
	_, _, calib := tinyModel(t)
	opt := DefaultOptions()
	opt.Method, opt.Target, opt.Batch, opt.Ctx = "llm-pruner", 0.2, 2, 12
	dense := m.Clone()
	total := m.Params()
	_, rep, err := Prune(context.Background(), m, opt, Data{Calib: calib}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3, 4, 5, 6}; !slices.Equal(rep.PrunedLayers, want) {
		t.Fatalf("pruned layers %v, want %v", rep.PrunedLayers, want)
	}
	removed := map[int]bool{}
	for _, id := range rep.RemovedIDs {
		removed[id] = true
	}
	// Scores on the dense model for the order check.
	tr, g := gradTrainer(t, dense.Clone(), 12)
	scores, err := LLMPrunerScores(tr, g, calib)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]map[int]int{"attention": {}, "mlp": {}}
	params := 0
	for _, gr := range g.Groups {
		if !removed[gr.ID] {
			continue
		}
		if gr.Layer < 1 || gr.Layer > 6 {
			t.Errorf("group %d of block %d removed, outside 1..6", gr.ID, gr.Layer)
		}
		count[gr.Kind][gr.Layer]++
		params += gr.Params
		for _, o := range g.Groups {
			if o.Layer == gr.Layer && o.Kind == gr.Kind && !removed[o.ID] && scores[o.ID] < scores[gr.ID] {
				t.Errorf("block %d %s: removed group %d (%.4g) over kept %d (%.4g)", gr.Layer, gr.Kind, gr.ID, scores[gr.ID], o.ID, scores[o.ID])
			}
		}
	}
	// Brute force: C − ⌊C(1−r)⌋ channels of C = 16 (4 heads of 4) or 24.
	want := int(math.Ceil(0.2 * float64(total)))
	var heads, ffn int
	found := false
	for k := 0; k <= 20000 && !found; k++ {
		r := float64(k) / 20000
		h := (16 - int(16*(1-r))) / 4
		f := 24 - int(24*(1-r))
		if 6*(h*g.Groups[firstOf(g, "attention", 1)].Params+f*g.Groups[firstOf(g, "mlp", 1)].Params) >= want {
			heads, ffn, found = h, f, true
		}
	}
	for l := 1; l <= 6; l++ {
		if count["attention"][l] != heads || count["mlp"][l] != ffn {
			t.Errorf("block %d: removed %d heads and %d FFN channels, brute force %d and %d", l, count["attention"][l], count["mlp"][l], heads, ffn)
		}
	}
	if params < want {
		t.Errorf("removed %d parameters, target %d", params, want)
	}
	if rep.Ratio < 0.2 {
		t.Errorf("ratio %.4f below the target", rep.Ratio)
	}
	t.Logf("per-layer ratio %.4f: %d heads, %d FFN channels per block; %.4f of the parameters", rep.LayerRatio, heads, ffn, rep.Ratio)

	// An unprunable group stays, whatever the ratio; the others of its
	// sublayer still go.
	locked := firstOf(g, "mlp", 3)
	g.Groups[locked].Prunable = false
	scores[locked] = -1 // lowest of all
	lo, hi := LLMPrunerLayers(dense.Layers)
	ids, _ := newLLMPrunerPlan(dense, g, scores, lo, hi).selection(1)
	if slices.Contains(ids, locked) || len(ids) != 6*(4+24)-1 {
		t.Errorf("ratio 1 with group %d unprunable: %d groups removed (it among them: %v), want %d", locked, len(ids), slices.Contains(ids, locked), 6*28-1)
	}

	opt.Target = 0.9
	if _, _, err := Prune(context.Background(), dense.Clone(), opt, Data{Calib: calib}, nil); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("target 0.9: %v, want unreachable", err)
	}
}

func firstOf(g *graph.Graph, kind string, layer int) int {
	for _, gr := range g.Groups {
		if gr.Kind == kind && gr.Layer == layer {
			return gr.ID
		}
	}
	return -1
}
