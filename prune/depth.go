package prune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// ShortGPT-style depth pruning (Men et al. 2024, arXiv 2403.03853): the
// blocks that change the residual stream least are removed whole.

// BlockInfluence is ShortGPT's Block Influence of every block, BI_l = 1 −
// E[cos(x_l, x_{l+1})], where x_l is the residual stream entering block l
// (x_Layers leaves the last block), the mean over every token of the
// calibration sequences, each run from position 0 through the inference
// forward pass.
func BlockInfluence(m *model.Model, calib []train.Example) ([]float64, error) {
	maxT := 0
	for _, ex := range calib {
		maxT = max(maxT, len(ex.Tokens))
	}
	if maxT == 0 {
		return nil, errors.New("shortgpt: no calibration tokens for the block influence")
	}
	L, d := m.Layers, m.Dim
	cosSum := make([]float64, L)
	tokens := 0
	var prev []float32 // the stream entering the block being measured
	st := m.NewState(maxT, maxT)
	st.Observe = func(at model.Point, l int, rows []float32, n, width int) {
		if at != model.ResidualIn {
			return
		}
		if l > 0 {
			for i := 0; i < n; i++ {
				cosSum[l-1] += cosine(prev[i*d:(i+1)*d], rows[i*d:(i+1)*d])
			}
		}
		prev = append(prev[:0], rows...)
	}
	for _, ex := range calib {
		if len(ex.Tokens) == 0 {
			continue
		}
		st.Reset()
		if _, err := st.Forward(ex.Tokens, false); err != nil {
			return nil, err
		}
		tokens += len(ex.Tokens)
	}
	bi := make([]float64, L)
	for l := range bi {
		bi[l] = 1 - cosSum[l]/float64(tokens)
	}
	return bi, nil
}

// cosine is x·y/(|x||y|) in float64; two zero vectors are the same
// direction (1), one zero vector is orthogonal to anything (0).
func cosine(x, y []float32) float64 {
	var xy, xx, yy float64
	for i := range x {
		a, b := float64(x[i]), float64(y[i])
		xy += a * b
		xx += a * a
		yy += b * b
	}
	switch {
	case xx == 0 && yy == 0:
		return 1
	case xx == 0 || yy == 0:
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// ShortGPTLayers picks the blocks to remove: the lowest-BI blocks, taken
// in that order, as many as bring the removed parameters nearest to
// target·total (at least one block, never all; ties take fewer). The
// result is sorted.
func ShortGPTLayers(m *model.Model, bi []float64, target float64) ([]int, error) {
	L := m.Layers
	if len(bi) != L {
		return nil, fmt.Errorf("shortgpt: %d block influences for %d blocks", len(bi), L)
	}
	if L < 2 {
		return nil, fmt.Errorf("shortgpt: a model of %d block cannot lose a block", L)
	}
	order := make([]int, L)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return bi[order[i]] < bi[order[j]] })
	want := target * float64(m.Params())
	best, bestDist, removed := 0, math.Inf(1), 0
	for k := 1; k < L; k++ {
		removed += m.LayerParams(order[k-1])
		if dist := math.Abs(float64(removed) - want); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	out := slices.Clone(order[:best])
	slices.Sort(out)
	return out, nil
}

// RemoveLayers returns m without the given blocks (and ad without their
// modules, when ad is not nil): the per-layer widths and the block count
// follow, so the GGUF writer and the forward pass see a shallower model
// whose later blocks are renumbered. m and ad are unchanged.
func RemoveLayers(m *model.Model, ad *lora.Adapter, layers []int) (*model.Model, *lora.Adapter, error) {
	drop := map[int]bool{}
	for _, l := range layers {
		if l < 0 || l >= m.Layers {
			return nil, nil, fmt.Errorf("prune: block %d does not exist (the model has %d)", l, m.Layers)
		}
		if drop[l] {
			return nil, nil, fmt.Errorf("prune: block %d is listed twice", l)
		}
		drop[l] = true
	}
	if len(drop) == m.Layers {
		return nil, nil, fmt.Errorf("prune: removing all %d blocks leaves no model", m.Layers)
	}
	if ad != nil && len(ad.Modules) != m.Layers {
		return nil, nil, fmt.Errorf("prune: the adapter has %d layers, the model %d", len(ad.Modules), m.Layers)
	}
	// A shallow copy with the kept blocks, then a deep copy of that alone.
	kept := *m
	c := &kept.Config
	c.Heads, c.KVHeads, c.FFN, kept.Blocks = nil, nil, nil, nil
	for l := range m.Blocks {
		if !drop[l] {
			kept.Blocks = append(kept.Blocks, m.Blocks[l])
			c.Heads, c.KVHeads, c.FFN = append(c.Heads, m.Heads[l]), append(c.KVHeads, m.KVHeads[l]), append(c.FFN, m.FFN[l])
		}
	}
	c.Layers = len(kept.Blocks)
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("prune: the shallower model is invalid: %w", err)
	}
	nm := kept.Clone()
	var nad *lora.Adapter
	if ad != nil {
		nad = &lora.Adapter{Config: ad.Config}
		for l, mods := range ad.Modules {
			if drop[l] {
				continue
			}
			var kept [lora.NumTargets]*lora.Module
			for t, mod := range mods {
				if mod != nil {
					cp := *mod
					cp.A, cp.B = slices.Clone(mod.A), slices.Clone(mod.B)
					kept[t] = &cp
				}
			}
			nad.Modules = append(nad.Modules, kept)
		}
	}
	return nm, nad, nil
}

// runShortGPT measures the block influence on the calibration data and
// records the blocks to remove in rep (Prune removes them).
func runShortGPT(m *model.Model, opt Options, data Data, rep *Report) error {
	if len(opt.KindTargets) > 0 || opt.Hidden {
		return errors.New("shortgpt removes whole blocks: --kind-targets and --hidden do not apply")
	}
	t0 := time.Now()
	bi, err := BlockInfluence(m, data.Calib)
	if err != nil {
		return err
	}
	layers, err := ShortGPTLayers(m, bi, opt.Target)
	if err != nil {
		return err
	}
	rep.BlockInfluence, rep.RemovedLayers = bi, layers
	rep.Seconds["score"] = time.Since(t0).Seconds()
	return nil
}
