package prune

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// tinyModel is a random float32 GQA model with its graph and a few
// calibration sequences.
func tinyModel(t *testing.T) (*model.Model, *graph.Graph, []train.Example) {
	t.Helper()
	m, err := model.NewRandom(model.UniformConfig(16, 24, 2, 4, 2, 30, 32), tensor.F32, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	var calib []train.Example
	for s := 0; s < 3; s++ {
		ex := train.Example{Tokens: make([]int, 12), Targets: make([]int, 12)}
		for i := range ex.Tokens {
			ex.Tokens[i], ex.Targets[i] = rng.IntN(30), rng.IntN(30)
		}
		calib = append(calib, ex)
	}
	return m, graph.Build(m, graph.Options{}), calib
}

func prunableIDs(g *graph.Graph) []int {
	var ids []int
	for _, gr := range g.Groups {
		if gr.Prunable {
			ids = append(ids, gr.ID)
		}
	}
	return ids
}

// TestAnalyzeDeviation: every Δ_g equals the loss of the model with group
// g removed by Compress (a model that never had the channel: zeroing its
// producers must give the same function) minus the dense loss, and the
// unprunable set is the top γ by that reference.
func TestAnalyzeDeviation(t *testing.T) {
	for _, hidden := range []bool{false, true} { // hidden channels are probed from the embedding, after the others
		m, _, calib := tinyModel(t)
		checkAnalyzeDeviation(t, m, graph.Build(m, graph.Options{Hidden: hidden}), calib)
	}
}

func checkAnalyzeDeviation(t *testing.T, m *model.Model, g *graph.Graph, calib []train.Example) {
	dense := m.Clone()
	const gamma = 0.25
	a, err := Analyze(m, g, calib, gamma, ProbeAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Loss(dense, calib)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.BaseLoss-base) > 1e-6 {
		t.Errorf("base loss %.7f, want %.7f", a.BaseLoss, base)
	}
	ids := prunableIDs(g)
	ref := map[int]float64{}
	for _, id := range ids {
		cm, _, err := Compress(dense.Clone(), nil, g, []graph.Group{g.Groups[id]})
		if err != nil {
			t.Fatal(err)
		}
		l, err := Loss(cm, calib)
		if err != nil {
			t.Fatal(err)
		}
		ref[id] = l - base
		if math.Abs(a.Deviation[id]-ref[id]) > 2e-5+1e-4*math.Abs(ref[id]) {
			t.Errorf("group %d (%s): Δ %.6g, removed-group reference %.6g", id, g.Groups[id].Kind, a.Deviation[id], ref[id])
		}
	}
	if len(a.Deviation) != len(ids) {
		t.Errorf("%d deviations for %d prunable groups", len(a.Deviation), len(ids))
	}
	sort.Slice(ids, func(i, j int) bool { return ref[ids[i]] > ref[ids[j]] })
	want := append([]int(nil), ids[:int(math.Round(gamma*float64(len(ids))))]...)
	sort.Ints(want)
	if len(want) != len(a.Unprunable) {
		t.Fatalf("unprunable %v, want %v", a.Unprunable, want)
	}
	for i := range want {
		if want[i] != a.Unprunable[i] {
			t.Fatalf("unprunable %v, want %v", a.Unprunable, want)
		}
	}
	// The model is restored exactly.
	if l, _ := Loss(m, calib); l != base {
		t.Errorf("loss after analysis %.9f, before %.9f", l, base)
	}
}

// handGroup computes x_g and its LoRA part (s·B·A)_g in float64 straight
// from the tensors named by the group's producer slices.
func handGroup(t *testing.T, m *model.Model, ad *lora.Adapter, gr *graph.Group) (x, delta []float64) {
	for _, s := range gr.Producers {
		if graph.IsLoRA(s.Tensor) {
			continue
		}
		r, err := lookup(m, nil, s.Tensor)
		if err != nil {
			t.Fatal(err)
		}
		if r.vec != nil {
			for _, i := range s.Indices() {
				x, delta = append(x, float64((*r.vec)[i])), append(delta, 0)
			}
			continue
		}
		w := *r.mat
		var mod *lora.Module
		if b, err := lookup(m, ad, s.Tensor[:len(s.Tensor)-len("weight")]+"lora_b"); err == nil {
			mod = b.mod
		}
		for _, i := range s.Indices() {
			if s.Axis != 0 {
				t.Fatalf("%s: producer columns", s.Tensor)
			}
			for c := 0; c < w.Cols; c++ {
				var d float64
				if mod != nil {
					for k := 0; k < mod.Rank; k++ {
						d += float64(mod.Scale) * float64(mod.B[i*mod.Rank+k]) * float64(mod.A[k*mod.In+c])
					}
				}
				x, delta = append(x, float64(w.F32[i*w.Cols+c])+d), append(delta, d)
			}
		}
	}
	return x, delta
}

// TestSaliencyCriteria: each of OTO's four criteria, and their normalised
// sum, against a float64 computation from the tensors, with a random B.
func TestSaliencyCriteria(t *testing.T) {
	cfg := DefaultLHSPG()
	cfg.Target = 0.2
	p, _, _ := tinyLHSPG(t, cfg)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, mods := range p.Tr.Adapter.Modules {
		for _, mod := range mods {
			if mod != nil {
				for i := range mod.B {
					mod.B[i] = float32(rng.NormFloat64() * 0.05)
				}
			}
		}
	}
	ids := prunableIDs(p.G)
	crit := p.saliencyCriteria(ids)
	sal := p.Saliency(ids)
	want := make([][4]float64, len(ids))
	var norms [4]float64
	for k, id := range ids {
		x, d := handGroup(t, p.Tr.M, p.Tr.Adapter, &p.G.Groups[id])
		var xx, dd, xd float64
		for i := range x {
			xx, dd, xd = xx+x[i]*x[i], dd+d[i]*d[i], xd+x[i]*d[i]
		}
		want[k] = [4]float64{math.Sqrt(xx), math.Sqrt(xx) / float64(len(x)), 1 + xd/math.Sqrt(xx*dd), math.Abs(xd)}
		for c := range norms {
			norms[c] += want[k][c] * want[k][c]
		}
	}
	names := [4]string{"magnitude", "average magnitude", "cosine", "taylor"}
	for k, id := range ids {
		var s float64
		for c := range norms {
			if math.Abs(crit[k][c]-want[k][c]) > 1e-5*math.Abs(want[k][c])+1e-9 {
				t.Errorf("group %d %s: %.8g, want %.8g", id, names[c], crit[k][c], want[k][c])
			}
			s += want[k][c] / math.Sqrt(norms[c])
		}
		if math.Abs(sal[id]-s) > 1e-5*s {
			t.Errorf("group %d saliency %.8g, want %.8g", id, sal[id], s)
		}
	}
}

// sumSquares is Σ w² over every weight of m (each tensor once, a tied
// output counted with the embedding), in float64.
func sumSquares(m *model.Model) float64 {
	var s float64
	add := func(x []float32) {
		for _, v := range x {
			s += float64(v) * float64(v)
		}
	}
	for _, r := range m.Tensors() {
		if r.Mat != nil && *r.Mat != nil {
			add((*r.Mat).F32)
		} else if r.Vec != nil {
			add(*r.Vec)
		}
	}
	return s
}

// TestMagnitudeScores: a group's score is the L2 norm of exactly the
// weights that removing it takes away: √(Σw²(dense) − Σw²(compressed)).
func TestMagnitudeScores(t *testing.T) {
	m, g, _ := tinyModel(t)
	scores, err := MagnitudeScores(m, g)
	if err != nil {
		t.Fatal(err)
	}
	all := sumSquares(m)
	for _, id := range prunableIDs(g) {
		cm, _, err := Compress(m.Clone(), nil, g, []graph.Group{g.Groups[id]})
		if err != nil {
			t.Fatal(err)
		}
		want := math.Sqrt(all - sumSquares(cm))
		if math.Abs(scores[id]-want) > 1e-6*want+1e-6 {
			t.Errorf("group %d (%s): magnitude %.8g, removed weights' norm %.8g", id, g.Groups[id].Kind, scores[id], want)
		}
	}
	// An f16 model is scored as stored, as the f32 model of its values.
	half := m.Clone()
	if err := half.Convert(tensor.F16); err != nil {
		t.Fatal(err)
	}
	widened := half.Clone()
	if err := widened.Convert(tensor.F32); err != nil {
		t.Fatal(err)
	}
	got, err := MagnitudeScores(half, g)
	if err != nil {
		t.Fatal(err)
	}
	want, err := MagnitudeScores(widened, g)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Error("f16 magnitude scores differ from those of the same values in f32")
	}
}

// TestTaylorScores: |Σ_{w∈g} w·∂L/∂w| is the derivative of the loss along
// the group's own weights, d/dα L((1+α)·w_g) at α = 0: a central
// difference of the calibration loss (the same batches, forward only)
// must agree. MagnitudeScores' test checks the set of weights.
func TestTaylorScores(t *testing.T) {
	m := stories(t)
	ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 32)
	if err != nil {
		t.Fatal(err)
	}
	calib := ex[:4]
	tr, g := gradTrainer(t, m, 32)
	scores, err := TaylorScores(tr, g, calib)
	if err != nil {
		t.Fatal(err)
	}
	loss := calibLoss(t, tr, calib)
	scale := func(gr *graph.Group, f float32) {
		for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers} {
			for _, s := range list {
				if !graph.IsLoRA(s.Tensor) {
					if err := eachEntry(m, s, func(w, _ *float32) { *w *= f }); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	checked := 0
	for _, id := range prunableIDs(g) {
		if id%9 != 0 { // a spread of attention and MLP groups
			continue
		}
		gr := &g.Groups[id]
		const h = 1e-2
		saved := map[string][]float32{}
		for _, s := range append(append([]graph.Slice(nil), gr.Producers...), gr.Consumers...) {
			if r, err := lookup(m, nil, s.Tensor); err == nil && r.mat != nil {
				saved[s.Tensor] = append([]float32(nil), (*r.mat).F32...)
			}
		}
		restore := func() {
			for name, w := range saved {
				r, _ := lookup(m, nil, name)
				copy((*r.mat).F32, w)
			}
		}
		scale(gr, 1+h)
		up := loss()
		restore()
		scale(gr, 1-h)
		down := loss()
		restore()
		want := math.Abs(up-down) / (2 * h)
		if math.Abs(scores[id]-want) > 0.03*want+2e-4 {
			t.Errorf("group %d (%s): taylor %.6g, central difference %.6g", id, gr.Kind, scores[id], want)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d groups checked", checked)
	}
}

// spearman is the rank correlation of a and b over ids (ties get their
// mean rank).
func spearman(ids []int, a, b map[int]float64) float64 {
	rank := func(v map[int]float64) []float64 {
		order := slices.Clone(ids)
		sort.SliceStable(order, func(i, j int) bool { return v[order[i]] < v[order[j]] })
		r := make([]float64, len(ids))
		pos := map[int]int{}
		for i, id := range ids {
			pos[id] = i
		}
		for i := 0; i < len(order); {
			j := i
			for j+1 < len(order) && v[order[j+1]] == v[order[i]] {
				j++
			}
			for k := i; k <= j; k++ {
				r[pos[order[k]]] = float64(i+j) / 2
			}
			i = j + 1
		}
		return r
	}
	ra, rb := rank(a), rank(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		sab += (ra[i] - ma) * (rb[i] - mb)
		saa += (ra[i] - ma) * (ra[i] - ma)
		sbb += (rb[i] - mb) * (rb[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// storiesCalib is stories260K (f32) with its graph and 1,088 calibration
// tokens of the TinyStories dev text (17 sequences of 64). Sequences
// 200–216 are where TaylorDeviations' Fisher weight was chosen; the test
// below uses 300–316.
func storiesCalib(t *testing.T, from int) (*model.Model, *graph.Graph, []train.Example) {
	m := stories(t)
	ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	return m, graph.Build(m, graph.Options{}), ex[from : from+17]
}

// TestTaylorEstimateRanksLikeProbes: on stories260K over more than 1,024
// calibration tokens, the Taylor estimate of every group's loss deviation
// (three passes in all) ranks the groups of each kind as the exact
// one-group-at-a-time probes do: Spearman ≥ 0.8. The top-γ set of the
// analysis (estimate plus its default 32 exact probes) overlaps the exact
// one by 65% here: short of the 80% issue #20 asks (docs/ALGORITHM.md);
// the test holds it above 60%.
func TestTaylorEstimateRanksLikeProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("probes every group")
	}
	m, g, calib := storiesCalib(t, 300)
	const gamma = 0.1
	exact, err := Analyze(m, g, calib, gamma, ProbeAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exact.Tokens < 1024 {
		t.Fatalf("%d calibration tokens", exact.Tokens)
	}
	ids := prunableIDs(g)
	est, passes, err := TaylorDeviations(m, g, ids, calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]int{}
	for _, id := range ids {
		byKind[g.Groups[id].Kind] = append(byKind[g.Groups[id].Kind], id)
	}
	for kind, kids := range byKind {
		rho := spearman(kids, est, exact.Deviation)
		t.Logf("%s (%d groups): Spearman %.3f between the estimate (%d passes) and the probes", kind, len(kids), rho, passes)
		if rho < 0.8 {
			t.Errorf("%s: Spearman %.3f between the estimate and the probes, want ≥ 0.8", kind, rho)
		}
	}
	a, err := Analyze(m, g, calib, gamma, DefaultConfirm, nil)
	if err != nil {
		t.Fatal(err)
	}
	overlap := func(x, y []int) float64 {
		n := 0
		for _, id := range x {
			if slices.Contains(y, id) {
				n++
			}
		}
		return float64(n) / float64(len(y))
	}
	topEst := topByDeviation(ids, est, len(exact.Unprunable))
	t.Logf("top-γ overlap with the exact set (%d groups): estimate alone %.3f, with %d probes %.3f",
		len(exact.Unprunable), overlap(topEst, exact.Unprunable), len(a.Probed), overlap(a.Unprunable, exact.Unprunable))
	if o := overlap(a.Unprunable, exact.Unprunable); o < 0.6 {
		t.Errorf("the analysis keeps %.0f%% of the exact top-γ set, want ≥ 60%%", 100*o)
	}
}
