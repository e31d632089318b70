package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/x448/float16"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// groupNorm is the L2 norm of all of a group's base parameters (producer
// rows, consumer columns, norm elements).
func groupNorm(m *model.Model, gr *graph.Group) (float64, error) {
	var ss float64
	for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers, gr.Elements} {
		for _, s := range list {
			if graph.IsLoRA(s.Tensor) {
				continue
			}
			err := eachValue(m, s, func(w float32) { ss += float64(w) * float64(w) })
			if err != nil {
				return 0, err
			}
		}
	}
	return math.Sqrt(ss), nil
}

// eachValue visits the value of every entry of a slice of a base tensor
// stored in float32 or float16.
func eachValue(m *model.Model, s graph.Slice, fn func(w float32)) error {
	r, err := lookup(m, nil, s.Tensor)
	if err != nil {
		return err
	}
	if r.vec != nil {
		for _, i := range s.Indices() {
			fn((*r.vec)[i])
		}
		return nil
	}
	w := *r.mat
	at := func(k int) float32 {
		if w.F16 != nil {
			return float16.Frombits(w.F16[k]).Float32()
		}
		return w.F32[k]
	}
	if w.DType != tensor.F32 && w.DType != tensor.F16 {
		return fmt.Errorf("prune: %s must be f32 or f16 (is %s)", s.Tensor, w.DType)
	}
	eachIndex(w, s, func(k int) { fn(at(k)) })
	return nil
}

// eachIndex visits the flat index in w of every entry of the slice s: its
// rows (axis 0) or its columns.
func eachIndex(w *tensor.Matrix, s graph.Slice, fn func(k int)) {
	for _, i := range s.Indices() {
		if s.Axis == 0 {
			for c := 0; c < w.Cols; c++ {
				fn(i*w.Cols + c)
			}
		} else {
			for r := 0; r < w.Rows; r++ {
				fn(r*w.Cols + i)
			}
		}
	}
}

// eachEntry visits every entry of a slice of a float32 base tensor, with
// the matching gradient entry when grad is not nil.
func eachEntry(m *model.Model, s graph.Slice, fn func(w, g *float32), grad ...[]float32) error {
	r, err := lookup(m, nil, s.Tensor)
	if err != nil {
		return err
	}
	var g []float32
	if len(grad) > 0 {
		g = grad[0]
	}
	at := func(data []float32, i int) (*float32, *float32) {
		if g == nil {
			return &data[i], nil
		}
		return &data[i], &g[i]
	}
	if r.vec != nil {
		for _, i := range s.Indices() {
			fn(at(*r.vec, i))
		}
		return nil
	}
	w := *r.mat
	if w.F32 == nil {
		return fmt.Errorf("prune: %s must be float32", s.Tensor)
	}
	eachIndex(w, s, func(k int) { fn(at(w.F32, k)) })
	return nil
}

// MagnitudeScores: the group L2 norm (one shot).
func MagnitudeScores(m *model.Model, g *graph.Graph) (map[int]float64, error) {
	out := map[int]float64{}
	for i := range g.Groups {
		if !g.Groups[i].Prunable {
			continue
		}
		n, err := groupNorm(m, &g.Groups[i])
		if err != nil {
			return nil, err
		}
		out[g.Groups[i].ID] = n
	}
	return out, nil
}

// TaylorScores is LLM-Pruner's vector-wise first-order group importance
// |Σ_{w∈g} w·∂L/∂w| with gradients accumulated over calibration batches.
// tr must be a LoRA trainer with BaseGrads on m (its adapter is unused:
// B is zero, so it does not change the loss).
func TaylorScores(tr *train.Trainer, g *graph.Graph, calib []train.Example) (map[int]float64, error) {
	if err := accumulateBaseGrads(tr, calib); err != nil {
		return nil, err
	}
	out := map[int]float64{}
	for i := range g.Groups {
		gr := &g.Groups[i]
		if !gr.Prunable {
			continue
		}
		s, err := sumWeightGrad(tr, gr, func(w, g float64) float64 { return w * g })
		if err != nil {
			return nil, err
		}
		out[gr.ID] = math.Abs(s)
	}
	return out, nil
}

// RandomScores draws a uniform random score per prunable group.
func RandomScores(g *graph.Graph, seed uint64) map[int]float64 {
	rng := rand.New(rand.NewPCG(seed, 0x7a4d))
	out := map[int]float64{}
	for _, gr := range g.Groups {
		if gr.Prunable {
			out[gr.ID] = rng.Float64()
		}
	}
	return out
}

// SelectLowest picks the lowest-scoring prunable groups until their
// parameters reach target·total (per kind when kindTargets is set).
func SelectLowest(g *graph.Graph, scores map[int]float64, target float64, kindTargets map[string]float64, total int) []graph.Group {
	var ids []int
	for id := range scores {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if scores[ids[i]] != scores[ids[j]] {
			return scores[ids[i]] < scores[ids[j]]
		}
		return ids[i] < ids[j]
	})
	var out []graph.Group
	byKind := map[string]int{}
	all := 0
	for _, id := range ids {
		gr := g.Groups[id]
		if len(kindTargets) > 0 {
			if float64(byKind[gr.Kind]) >= kindTargets[gr.Kind]*float64(total) {
				continue
			}
		} else if float64(all) >= target*float64(total) {
			break
		}
		out = append(out, gr)
		byKind[gr.Kind] += gr.Params
		all += gr.Params
	}
	return out
}
