package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/eval"
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

// Analysis is the knowledge distribution over groups (§3).
type Analysis struct {
	BaseLoss   float64         `json:"base_loss"`
	Deviation  map[int]float64 `json:"deviation"`  // Δ_g = L(θ without g) − L(θ), per prunable group id
	Unprunable []int           `json:"unprunable"` // the top-γ groups by Δ_g
	Gamma      float64         `json:"gamma"`
}

// Analyze zeroes each prunable group in turn (m must hold float32
// weights), measures the loss deviation on the calibration examples and
// marks the top γ fraction of groups unprunable.
func Analyze(m *model.Model, g *graph.Graph, calib []train.Example, gamma float64, progress func(done, total int)) (*Analysis, error) {
	if gamma < 0 || gamma >= 1 {
		return nil, fmt.Errorf("prune: gamma %v must be in [0, 1)", gamma)
	}
	base, err := Loss(m, calib)
	if err != nil {
		return nil, err
	}
	a := &Analysis{BaseLoss: base, Deviation: map[int]float64{}, Gamma: gamma}
	var ids []int
	for _, gr := range g.Groups {
		if gr.Prunable {
			ids = append(ids, gr.ID)
		}
	}
	for k, id := range ids {
		v, err := newGroupView(m, nil, &g.Groups[id])
		if err != nil {
			return nil, err
		}
		saved := v.save()
		v.zero()
		loss, err := Loss(m, calib)
		v.restore(saved)
		if err != nil {
			return nil, err
		}
		a.Deviation[id] = loss - base
		if progress != nil {
			progress(k+1, len(ids))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return a.Deviation[ids[i]] > a.Deviation[ids[j]] })
	a.Unprunable = append([]int(nil), ids[:int(math.Round(gamma*float64(len(ids))))]...)
	sort.Ints(a.Unprunable)
	return a, nil
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
