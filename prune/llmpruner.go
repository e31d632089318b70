package prune

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// LLM-Pruner (Ma et al. 2023, github.com/horseee/LLM-Pruner) as its
// scripts/llama_prune.sh runs it: hf_prune.py --block_wise --pruner_type
// taylor --taylor param_first, attention and MLP blocks 4..30 of 32, local
// pruning (one ratio per pruned sublayer). Only heads and FFN channels are
// pruned (the roots are q_proj and gate_proj; the hidden width stays).

// accumulateBaseGrads fills tr's base-weight gradients with those of the
// mean calibration loss (each batch weighted 1/batches).
func accumulateBaseGrads(tr *train.Trainer, calib []train.Example) error {
	tr.ZeroGrad()
	tr.ZeroWeightGrads()
	tks, tgs := train.Batches(calib, tr.B, tr.T)
	for i := range tks {
		if _, _, err := tr.Step(tks[i], tgs[i], 1/float32(len(tks))); err != nil {
			return err
		}
	}
	return nil
}

// sumWeightGrad is Σ f(w, ∂L/∂w) over every base entry of the group's
// producer rows and consumer columns (the Taylor scores' one loop).
func sumWeightGrad(tr *train.Trainer, gr *graph.Group, f func(w, g float64) float64) (float64, error) {
	var s float64
	for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers} {
		for _, sl := range list {
			grad := tr.WeightGrad(sl.Tensor)
			if graph.IsLoRA(sl.Tensor) || grad == nil {
				continue
			}
			if err := eachEntry(tr.M, sl, func(w, gw *float32) { s += f(float64(*w), float64(*gw)) }, grad); err != nil {
				return 0, err
			}
		}
	}
	return s, nil
}

// LLMPrunerScores is LLM-Pruner's element-wise first-order importance
// (their TaylorImportance with taylor = "param_first" and group reduction
// "sum"): Σ |w·∂L/∂w| over every base entry of the group's producer rows
// and consumer columns (q, k, v rows and o columns of a KV group; gate, up
// rows and the down column of an FFN channel), gradients of the mean
// calibration loss. Summing over a group's channels is their
// consecutive_groups reduction of a head's head_dim channels. tr must be a
// trainer with BaseGrads on m. Only attention and MLP groups are scored.
func LLMPrunerScores(tr *train.Trainer, g *graph.Graph, calib []train.Example) (map[int]float64, error) {
	if err := accumulateBaseGrads(tr, calib); err != nil {
		return nil, err
	}
	out := map[int]float64{}
	for i := range g.Groups {
		gr := &g.Groups[i]
		if !gr.Prunable || (gr.Kind != "attention" && gr.Kind != "mlp") {
			continue
		}
		s, err := sumWeightGrad(tr, gr, func(w, g float64) float64 { return math.Abs(w * g) })
		if err != nil {
			return nil, err
		}
		out[gr.ID] = s
	}
	return out, nil
}

// LLMPrunerLayers is the half-open range [lo, hi) of blocks LLM-Pruner
// prunes in an n-block model: the llama script's range(4, 30) of 32 blocks
// (first 4 and last 2 kept) mapped proportionally, each end rounded half
// up: lo = round(4n/32), hi = n − round(2n/32). 32 blocks → 4..29, 12 →
// 2..10, 5 (stories260K) → 1..4.
func LLMPrunerLayers(n int) (lo, hi int) {
	lo = int(math.Floor(float64(4*n)/32 + 0.5))
	hi = n - int(math.Floor(float64(2*n)/32+0.5))
	return lo, hi
}

// llmPrunerCount is how many of a sublayer's n groups ratio r removes when
// the sublayer has c root channels (q_proj's rows, or the FFN width):
// torch-pruning's local rule (MetaPruner.prune_local) removes c −
// int(c·(1−r)) channels, in whole groups of c/n channels (a head's
// head_dim channels, or a KV group's).
func llmPrunerCount(n, c int, r float64) int {
	if n == 0 {
		return 0
	}
	channels := c - int(float64(c)*(1-r))
	return min(n, channels/(c/n))
}

// llmPrunerPlan is the selection of one ratio: the lowest-scoring
// prunable groups of each sublayer of the range.
type llmPrunerPlan struct {
	sublayers []llmSublayer
	params    map[int]int // group id → base parameters
}

type llmSublayer struct {
	channels int   // root channels: heads·head_dim, or the FFN width
	groups   int   // all groups of the sublayer, prunable or not
	ranked   []int // prunable group ids, lowest score first
}

func newLLMPrunerPlan(m *model.Model, g *graph.Graph, scores map[int]float64, lo, hi int) *llmPrunerPlan {
	p := &llmPrunerPlan{params: map[int]int{}}
	type key struct {
		layer int
		kind  string
	}
	all := map[key]int{}
	ranked := map[key][]int{}
	for _, gr := range g.Groups {
		if gr.Layer < lo || gr.Layer >= hi || (gr.Kind != "attention" && gr.Kind != "mlp") {
			continue
		}
		k := key{gr.Layer, gr.Kind}
		all[k]++
		if _, ok := scores[gr.ID]; ok && gr.Prunable {
			ranked[k] = append(ranked[k], gr.ID)
			p.params[gr.ID] = gr.Params
		}
	}
	for l := lo; l < hi; l++ {
		for _, kind := range []string{"attention", "mlp"} {
			k := key{l, kind}
			ids := ranked[k]
			sort.Slice(ids, func(i, j int) bool {
				if scores[ids[i]] != scores[ids[j]] {
					return scores[ids[i]] < scores[ids[j]]
				}
				return ids[i] < ids[j]
			})
			c := m.FFN[l]
			if kind == "attention" {
				c = m.Heads[l] * m.HeadDim
			}
			if all[k] > 0 {
				p.sublayers = append(p.sublayers, llmSublayer{channels: c, groups: all[k], ranked: ids})
			}
		}
	}
	return p
}

// selection returns the groups ratio r removes and their parameters.
func (p *llmPrunerPlan) selection(r float64) (ids []int, params int) {
	for _, s := range p.sublayers {
		n := min(llmPrunerCount(s.groups, s.channels, r), len(s.ranked))
		for _, id := range s.ranked[:n] {
			ids = append(ids, id)
			params += p.params[id]
		}
	}
	return ids, params
}

// solveRatio finds the smallest per-layer ratio whose selection removes at
// least want parameters (the selection grows with r), by bisection to
// float64 resolution.
func (p *llmPrunerPlan) solveRatio(want int) (float64, error) {
	if _, most := p.selection(1); most < want {
		return 0, fmt.Errorf("the layers' prunable groups hold %d parameters, fewer than the %d asked", most, want)
	}
	lo, hi := 0.0, 1.0
	for range 64 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if _, n := p.selection(mid); n >= want {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// runLLMPruner scores the groups, solves the per-layer ratio that removes
// opt.Target of all parameters from the script's layer range and returns
// the selection.
func runLLMPruner(m *model.Model, g *graph.Graph, opt Options, data Data, rep *Report) ([]graph.Group, error) {
	if len(opt.KindTargets) > 0 {
		return nil, errors.New("--kind-targets: llm-pruner prunes attention and MLP at one ratio per layer; set --target only")
	}
	if opt.Hidden {
		return nil, errors.New("--hidden: llm-pruner (block-wise) prunes heads and FFN channels only")
	}
	if len(data.Calib) == 0 {
		return nil, errors.New("llm-pruner: no calibration data for the gradients")
	}
	t0 := time.Now()
	cfg := opt.LoRA
	cfg.Dropout = 0
	tr, err := train.New(m, train.Options{LoRA: cfg, Batch: opt.Batch, Ctx: opt.Ctx, Seed: opt.Seed, BaseGrads: true})
	if err != nil {
		return nil, err
	}
	scores, err := LLMPrunerScores(tr, g, data.Calib)
	if err != nil {
		return nil, err
	}
	lo, hi := LLMPrunerLayers(m.Layers)
	plan := newLLMPrunerPlan(m, g, scores, lo, hi)
	want := int(math.Ceil(opt.Target * float64(m.Params())))
	r, err := plan.solveRatio(want)
	if err != nil {
		return nil, fmt.Errorf("--target %v is unreachable for llm-pruner (blocks %d..%d of %d): %w", opt.Target, lo, hi-1, m.Layers, err)
	}
	ids, _ := plan.selection(r)
	for l := lo; l < hi; l++ {
		rep.PrunedLayers = append(rep.PrunedLayers, l)
	}
	rep.LayerRatio = r
	rep.Seconds["score"] = time.Since(t0).Seconds()
	return Select(g, ids)
}
