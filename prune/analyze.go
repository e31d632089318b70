package prune

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// Loss is the mean next-token loss of m over examples (every scored
// target counts once), with the inference forward pass.
func Loss(m *model.Model, examples []train.Example) (float64, error) {
	maxT := 1
	for _, ex := range examples {
		maxT = max(maxT, len(ex.Tokens))
	}
	st := m.NewState(maxT, maxT)
	var sum float64
	n := 0
	for _, ex := range examples {
		var k int
		var err error
		if sum, k, err = eval.SequenceNLL(st, ex.Tokens, ex.Targets, sum); err != nil {
			return 0, err
		}
		n += k
	}
	if n == 0 {
		return 0, fmt.Errorf("prune: no scored tokens in the calibration data")
	}
	return sum / float64(n), nil
}

// newBatchLoss returns a function measuring the mean next-token loss of
// m, as it is at the call, over the examples (every scored target counts
// once) with the trainer's batched forward pass (a forward-only trainer:
// one block's activations). The first call runs every block; when the
// examples fit one micro-batch of up to 32 sequences, later calls with
// from ≥ 0 rerun only blocks from on (m changed there alone), until a
// later call with from < 0 (whose inputs it cannot keep).
func newBatchLoss(m *model.Model, examples []train.Example) (func(from int) (float64, error), error) {
	T, total, err := calibShape(examples)
	if err != nil {
		return nil, err
	}
	B := min(8, len(examples))
	one := len(examples) <= 32
	if one {
		B = len(examples)
	}
	tr, err := train.New(m, train.Options{Frozen: true, Batch: B, Ctx: T, KeepInputs: one})
	if err != nil {
		return nil, err
	}
	tks, tgs := train.Batches(examples, B, T)
	first := true
	return func(from int) (float64, error) {
		if one && !first && from >= 0 {
			l, _, err := tr.LossFrom(from, tgs[0])
			return l, err
		}
		if !first {
			one = false // the saved inputs are of a changed model from now on
		}
		first = false
		var sum float64
		for i := range tks {
			l, n, err := tr.Loss(tks[i], tgs[i])
			if err != nil {
				return 0, err
			}
			sum += l * float64(n)
		}
		return sum / float64(total), nil
	}, nil
}

// Analysis is the knowledge distribution over groups (§3).
type Analysis struct {
	BaseLoss  float64         `json:"base_loss"`
	Deviation map[int]float64 `json:"deviation"` // Δ_g = L(θ without g) − L(θ), per prunable group id: exact where probed, else the estimate
	// Estimate is the second-order Taylor estimate of every Δ_g that has
	// one (TaylorDeviations); Probed lists the groups measured exactly.
	Estimate   map[int]float64 `json:"estimate,omitempty"`
	Probed     []int           `json:"probed,omitempty"`
	Unprunable []int           `json:"unprunable"` // the top-γ groups by Δ_g
	Gamma      float64         `json:"gamma"`
	Tokens     int             `json:"tokens"` // scored calibration tokens
}

// ProbeAll, as Analyze's confirm, measures every group exactly.
const ProbeAll = -1

// Analyze measures the knowledge distribution on the calibration
// examples and marks the top γ fraction of groups unprunable. Every Δ_g
// is first estimated for all groups at once (TaylorDeviations: one
// forward and backward pass per calibration micro-batch, whatever the
// number of groups); then the confirm groups whose estimates lie nearest
// the top-γ boundary, and any group without an estimate, are probed
// exactly: zeroed in turn (m must hold f32 or f16 weights; it is restored
// exactly) and the loss measured again. With confirm = ProbeAll every
// group is probed (one pass per group: the reference the estimate is
// validated against in docs/ALGORITHM.md).
func Analyze(m *model.Model, g *graph.Graph, calib []train.Example, gamma float64, confirm int, progress func(done, total int)) (*Analysis, error) {
	if gamma < 0 || gamma >= 1 {
		return nil, fmt.Errorf("prune: gamma %v must be in [0, 1)", gamma)
	}
	probeLoss, err := newBatchLoss(m, calib)
	if err != nil {
		return nil, err
	}
	base, err := probeLoss(-1)
	if err != nil {
		return nil, err
	}
	a := &Analysis{BaseLoss: base, Deviation: map[int]float64{}, Gamma: gamma}
	for _, ex := range calib {
		for _, tg := range ex.Targets {
			if tg >= 0 {
				a.Tokens++
			}
		}
	}
	var ids []int
	for _, gr := range g.Groups {
		if gr.Prunable {
			ids = append(ids, gr.ID)
		}
	}
	keep := int(math.Round(gamma * float64(len(ids))))
	probe := slices.Clone(ids)
	estimated := 0
	if confirm != ProbeAll && confirm < len(ids) {
		est, passes, err := TaylorDeviations(m, g, ids, calib, func(d, n int) {
			if progress != nil {
				progress(d, n+confirm)
			}
		})
		if err != nil {
			return nil, err
		}
		estimated = passes
		a.Estimate = est
		probe = shortlist(ids, est, keep, confirm)
		for id, d := range est {
			a.Deviation[id] = d
		}
	}
	probeFrom := func(id int) int {
		if gr := g.Groups[id]; (gr.Kind == "attention" || gr.Kind == "mlp") && gr.Layer >= 0 {
			return gr.Layer
		}
		return -1 // a hidden channel reaches back to the embedding
	}
	// Groups probed from the embedding go last: the others reuse the
	// dense model's block inputs.
	sort.SliceStable(probe, func(i, j int) bool { return probeFrom(probe[i]) >= 0 && probeFrom(probe[j]) < 0 })
	for k, id := range probe {
		v, err := newGroupView(m, nil, &g.Groups[id])
		if err != nil {
			return nil, err
		}
		saved := v.save()
		v.zero()
		loss, err := probeLoss(probeFrom(id))
		v.restore(saved)
		if err != nil {
			return nil, err
		}
		a.Deviation[id] = loss - base
		if progress != nil {
			progress(estimated+k+1, estimated+len(probe))
		}
	}
	if a.Estimate != nil {
		a.Probed = slices.Sorted(slices.Values(probe))
	}
	a.Unprunable = topByDeviation(ids, a.Deviation, keep)
	return a, nil
}

// topByDeviation returns the keep groups of ids with the largest Δ (ties:
// the lower id), sorted by id.
func topByDeviation(ids []int, dev map[int]float64, keep int) []int {
	ids = slices.Clone(ids)
	sort.SliceStable(ids, func(i, j int) bool { return dev[ids[i]] > dev[ids[j]] })
	top := slices.Clone(ids[:keep])
	sort.Ints(top)
	return top
}

// shortlist picks the groups to probe exactly: those without an estimate,
// and the confirm groups ranked nearest the top-keep boundary by their
// estimate (half above it, half below).
func shortlist(ids []int, est map[int]float64, keep, confirm int) []int {
	var out, ranked []int
	for _, id := range ids {
		if _, ok := est[id]; ok {
			ranked = append(ranked, id)
		} else {
			out = append(out, id)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return est[ranked[i]] > est[ranked[j]] })
	lo := min(max(keep-confirm/2, 0), max(len(ranked)-confirm, 0))
	hi := min(lo+confirm, len(ranked))
	return append(out, ranked[lo:hi]...)
}

// TaylorDeviations estimates, for every group of ids that removes one
// KV group's attention output or one FFN channel (the group's consumer is
// a block's attn_output or ffn_down, one unit of its input: zeroing the
// producers zeroes exactly those channels), the loss deviation of
// removing it, from one forward and backward pass per micro-batch of
// calibration sequences: LLM-Pruner's second-order Taylor expansion with
// the empirical Fisher approximation of the Hessian. With a_n the group's
// channels at token n and L the mean loss over all N scored calibration
// tokens, removal moves a_n by δ_n = −a_n, and with t_n = ⟨a_n, ∂L/∂a_n⟩
//
//	Δ_g ≈ −Σ_n t_n + c·N·Σ_n t_n²,
//
// the Fisher term treating each token's N·∂L/∂a_n as one sample's
// gradient, with c = fisherWeight. Groups of other kinds (hidden channels)
// get no estimate. It returns the estimates and the passes run.
func TaylorDeviations(m *model.Model, g *graph.Graph, ids []int, calib []train.Example, progress func(done, total int)) (map[int]float64, int, error) {
	first, fisher, passes, err := taylorTerms(m, g, ids, calib, progress)
	if err != nil {
		return nil, 0, err
	}
	est := map[int]float64{}
	for id, f := range first {
		est[id] = f + fisherWeight*fisher[id]
	}
	return est, passes, nil
}

// fisherWeight is c of TaylorDeviations: a quarter, not the expansion's
// half, because the tokens are not independent samples (a position's
// gradient carries the losses of the positions after it through
// attention, so the per-token Fisher overcounts the curvature: at ½ the
// attention groups' ranking fell to Spearman 0.59). Chosen on one
// calibration split of stories260K and reported on another
// (docs/ALGORITHM.md).
const fisherWeight = 0.25

// taylorTerms returns TaylorDeviations' first-order term −Σ_n t_n and
// Fisher term N·Σ_n t_n² per group.
func taylorTerms(m *model.Model, g *graph.Graph, ids []int, calib []train.Example, progress func(done, total int)) (first, fisher map[int]float64, passes int, err error) {
	T, total, err := calibShape(calib)
	if err != nil {
		return nil, nil, 0, err
	}
	B := min(8, len(calib))
	// A rank-1 adapter with B = 0 leaves the function as it is; dropout
	// off: the estimate is of the deterministic model.
	lc := lora.Config{Rank: 1, Alpha: 1, Targets: []lora.Target{lora.Down}}
	tr, err := train.New(m, train.Options{LoRA: lc, Batch: B, Ctx: T, ChannelTaylor: true})
	if err != nil {
		return nil, nil, 0, err
	}
	type unit struct {
		tensor string
		k      int // the unit's index in ChannelTaylor's sums
	}
	of := map[int]unit{}
	for _, id := range ids {
		for _, c := range g.Groups[id].Consumers {
			l, base, suffix, err := model.SplitName(c.Tensor)
			if err != nil || l < 0 || suffix != "weight" || c.Axis != 1 ||
				(base != model.AttnOutput.Info().Base && base != model.FFNDown.Info().Base) {
				continue
			}
			_, _, width := tr.ChannelTaylor(c.Tensor)
			idx := c.Indices()
			// The group must be exactly one unit: width channels from a
			// multiple of width.
			if width == 0 || len(idx) != width || idx[0]%width != 0 || idx[width-1] != idx[0]+width-1 {
				continue
			}
			of[id] = unit{c.Tensor, idx[0] / width}
		}
	}
	first, fisher = map[int]float64{}, map[int]float64{}
	for id := range of {
		first[id], fisher[id] = 0, 0
	}
	tks, tgs := train.Batches(calib, B, T)
	for i := range tks {
		n := 0
		for _, tg := range tgs[i] {
			if tg >= 0 {
				n++
			}
		}
		if n == 0 {
			continue
		}
		// Weighting the batch by its share of the tokens makes the
		// gradient that of the mean loss over all calibration tokens.
		tr.ZeroGrad()
		if _, _, err := tr.Step(tks[i], tgs[i], float32(n)/float32(total)); err != nil {
			return nil, nil, 0, err
		}
		for id, u := range of {
			sums, squares, _ := tr.ChannelTaylor(u.tensor)
			units := len(sums) / B
			for b := 0; b < B; b++ {
				first[id] -= sums[b*units+u.k]
				fisher[id] += squares[b*units+u.k] * float64(total)
			}
		}
		if progress != nil {
			progress(i+1, len(tks))
		}
	}
	return first, fisher, len(tks), nil
}

// Apply marks the analysis's unprunable groups in g.
func (a *Analysis) Apply(g *graph.Graph) {
	for _, id := range a.Unprunable {
		g.Groups[id].Prunable = false
		g.Groups[id].Reason = fmt.Sprintf("knowledge analysis: loss deviation %.4g is in the top %.0f%%", a.Deviation[id], 100*a.Gamma)
	}
}

// LayerKindMeans averages Δ_g per (layer, kind), for the heatmap.
func (a *Analysis) LayerKindMeans(g *graph.Graph) map[string][]float64 {
	sum, cnt := map[string][]float64{}, map[string][]int{}
	layers := 0
	for _, gr := range g.Groups {
		layers = max(layers, gr.Layer+1)
	}
	for id, d := range a.Deviation {
		gr := g.Groups[id]
		if sum[gr.Kind] == nil {
			sum[gr.Kind], cnt[gr.Kind] = make([]float64, max(layers, 1)), make([]int, max(layers, 1))
		}
		l := max(gr.Layer, 0)
		sum[gr.Kind][l] += d
		cnt[gr.Kind][l]++
	}
	for k := range sum {
		for l := range sum[k] {
			if cnt[k][l] > 0 {
				sum[k][l] /= float64(cnt[k][l])
			} else {
				sum[k][l] = math.NaN()
			}
		}
	}
	return sum
}

// calibShape is the longest calibration sequence (at least 2) and the
// number of scored targets, which must not be zero.
func calibShape(examples []train.Example) (T, total int, err error) {
	T = 2
	for _, ex := range examples {
		T = max(T, len(ex.Tokens))
		for _, tg := range ex.Targets {
			if tg >= 0 {
				total++
			}
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("prune: no scored tokens in the calibration data")
	}
	return T, total, nil
}
