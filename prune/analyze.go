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
// once): the trainer's batched forward pass over micro-batches of up to 8
// sequences (a forward-only trainer: one block's activations).
func newBatchLoss(m *model.Model, examples []train.Example) (func() (float64, error), error) {
	T, total := 2, 0
	for _, ex := range examples {
		T = max(T, len(ex.Tokens))
		for _, tg := range ex.Targets {
			if tg >= 0 {
				total++
			}
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("prune: no scored tokens in the calibration data")
	}
	B := min(8, len(examples))
	tr, err := train.New(m, train.Options{Frozen: true, Batch: B, Ctx: T})
	if err != nil {
		return nil, err
	}
	tks, tgs := train.Batches(examples, B, T)
	return func() (float64, error) {
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
	base, err := probeLoss()
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
	probe := ids
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
	for k, id := range probe {
		v, err := newGroupView(m, nil, &g.Groups[id])
		if err != nil {
			return nil, err
		}
		saved := v.save()
		v.zero()
		loss, err := probeLoss()
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
// attention group's output or one FFN channel (the group's consumer is a
// block's attn_output or ffn_down: zeroing its producers zeroes exactly
// those input channels), the loss deviation of removing it, from one
// forward and backward pass per micro-batch of calibration sequences
// (LLM-Pruner's second-order Taylor expansion with the Fisher
// approximation of the Hessian): with a the group's channels over the
// calibration tokens, removal moves them by δ = −a, and
//
//	Δ_g ≈ −Σ_b s_b + ½·Σ_b s_b²/w_b,   s_b = ⟨a, ∂L_b/∂a⟩ over sequence b,
//
// L = Σ_b L_b the mean loss split by sequence, w_b sequence b's share of
// the scored tokens (the Fisher term is Σ_b w_b·(∇ℓ_b·δ)² with ℓ_b = L_b/w_b
// the sequence's own mean loss). Groups of other kinds (hidden channels)
// get no estimate. It returns the estimates and the passes run.
func TaylorDeviations(m *model.Model, g *graph.Graph, ids []int, calib []train.Example, progress func(done, total int)) (map[int]float64, int, error) {
	first, fisher, passes, err := taylorTerms(m, g, ids, calib, progress)
	if err != nil {
		return nil, 0, err
	}
	est := map[int]float64{}
	for id, f := range first {
		est[id] = f + fisher[id]/2
	}
	return est, passes, nil
}

// taylorTerms returns TaylorDeviations' first-order term −Σ_b s_b and
// Fisher term Σ_b s_b²/w_b per group.
func taylorTerms(m *model.Model, g *graph.Graph, ids []int, calib []train.Example, progress func(done, total int)) (first, fisher map[int]float64, passes int, err error) {
	T, total := 2, 0
	for _, ex := range calib {
		T = max(T, len(ex.Tokens))
		for _, tg := range ex.Targets {
			if tg >= 0 {
				total++
			}
		}
	}
	if total == 0 {
		return nil, nil, 0, fmt.Errorf("prune: no scored tokens in the calibration data")
	}
	B := min(8, len(calib))
	// A rank-1 adapter with B = 0 leaves the function as it is; dropout
	// off: the estimate is of the deterministic model.
	lc := lora.Config{Rank: 1, Alpha: 1, Targets: []lora.Target{lora.Down}}
	tr, err := train.New(m, train.Options{LoRA: lc, Batch: B, Ctx: T, ChannelTaylor: true})
	if err != nil {
		return nil, nil, 0, err
	}
	type channels struct {
		tensor string
		cols   int
		idx    []int
	}
	of := map[int]channels{}
	for _, id := range ids {
		for _, c := range g.Groups[id].Consumers {
			l, base, suffix, err := model.SplitName(c.Tensor)
			if err != nil || l < 0 || suffix != "weight" || c.Axis != 1 ||
				(base != model.AttnOutput.Info().Base && base != model.FFNDown.Info().Base) {
				continue
			}
			r, err := m.Tensor(c.Tensor)
			if err != nil {
				return nil, nil, 0, err
			}
			of[id] = channels{c.Tensor, (*r.Mat).Cols, c.Indices()}
		}
	}
	first, fisher = map[int]float64{}, map[int]float64{}
	for id := range of {
		first[id], fisher[id] = 0, 0
	}
	tks, tgs := train.Batches(calib, B, T)
	for i := range tks {
		counts := make([]int, B)
		n := 0
		for k, tg := range tgs[i] {
			if tg >= 0 {
				counts[k/T]++
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
		for id, ch := range of {
			sums := tr.ChannelTaylor(ch.tensor)
			for b := 0; b < B; b++ {
				if counts[b] == 0 {
					continue
				}
				var s float64
				for _, j := range ch.idx {
					s += sums[b*ch.cols+j]
				}
				first[id] -= s
				fisher[id] += s * s * float64(total) / float64(counts[b])
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
