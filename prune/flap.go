package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// The activation-based baselines of FLAP (An et al., "Fluctuation-based
// Adaptive Structured Pruning for Large Language Models", AAAI 2024,
// arXiv 2312.11983; code github.com/CASIA-IVA-Lab/FLAP, lib/prune.py and
// lib/layerwrapper.py). Both score a group by the input channels it
// removes from Wo (attention groups: every query head of a KV group) or
// Wdown (MLP channels), read from the group's consumer slices on those
// tensors (axis 1), so GQA and per-layer widths need no special case.

// outputProjections names the two linears whose input channels are scored.
var outputProjections = [2]model.Kind{model.AttnOutput, model.FFNDown}

// projection is one layer's Wo or Wdown as the scores read it.
type projection struct {
	w     []float32 // row-major [rows × cols]
	rows  int
	cols  int
	stats *ChannelStats
}

func (p projection) column(j int, fn func(w float64)) {
	for i := 0; i < p.rows; i++ {
		fn(float64(p.w[i*p.cols+j]))
	}
}

// projections reads every layer's Wo and Wdown once, with their
// statistics (indexed [layer][0: Wo, 1: Wdown]; absent ones are zero).
func projections(m *model.Model, st *ActivationStats) [][2]projection {
	out := make([][2]projection, m.Layers)
	for l := range out {
		for i, k := range outputProjections {
			s := st.Wo[l]
			if i == 1 {
				s = st.Wdown[l]
			}
			if w := model.LayerMatrix(&m.Blocks[l], k); w != nil && s != nil {
				out[l][i] = projection{w: w.Float32(), rows: w.Rows, cols: w.Cols, stats: s}
			}
		}
	}
	return out
}

// groupChannels returns which of the layer's projections the group feeds
// (0: Wo for attention, 1: Wdown for mlp) and its input channels on it,
// from its consumer slices; ok is false for other kinds.
func groupChannels(gr *graph.Group) (which int, channels []int, ok bool) {
	switch gr.Kind {
	case "attention":
	case "mlp":
		which = 1
	default:
		return 0, nil, false
	}
	name := outputProjections[which].Name(gr.Layer)
	for _, sl := range gr.Consumers {
		if sl.Tensor == name && sl.Axis == 1 {
			channels = append(channels, sl.Indices()...)
		}
	}
	return which, channels, len(channels) > 0
}

// checkActivationOptions refuses what the two baselines do not define.
func checkActivationOptions(opt Options) error {
	if opt.Hidden || opt.KindTargets["hidden"] > 0 {
		return fmt.Errorf("--method %s prunes attention heads and MLP channels only; drop --hidden", opt.Method)
	}
	return nil
}

// WandaSPScores is structured Wanda as FLAP's paper compares against it
// (prune_wanda_sp in lib/prune.py): channel j of Wo or Wdown scores
// Σ_i |W_ij|·‖X_j‖₂ over the calibration tokens, and a group the sum over
// its channels. Only the groups of layer l are scored (l < 0: every layer).
func WandaSPScores(m *model.Model, g *graph.Graph, st *ActivationStats, l int) map[int]float64 {
	projs := projections(m, st)
	out := map[int]float64{}
	for i := range g.Groups {
		gr := &g.Groups[i]
		if !gr.Prunable || (l >= 0 && gr.Layer != l) {
			continue
		}
		which, channels, ok := groupChannels(gr)
		p := projs[gr.Layer][which]
		if !ok || p.stats == nil {
			continue
		}
		var s float64
		for _, j := range channels {
			var abs float64
			p.column(j, func(w float64) { abs += math.Abs(w) })
			s += abs * math.Sqrt(p.stats.SumSq[j])
		}
		out[gr.ID] = s
	}
	return out
}

// WandaSP prunes layer by layer with one ratio for every layer's heads
// and channels, as FLAP's released code runs Wanda-sp (its UL-UM
// structure): each layer removes ⌊r·n⌋ of its n attention groups and of
// its MLP channels, the lowest-scoring, with its statistics taken on the
// model whose earlier layers are already pruned (here: zeroed, which is
// what removal computes). r is the fraction of the prunable (attention and
// MLP) parameters that removes target·total parameters, per kind with
// KindTargets. m is modified (the removed groups are zeroed).
func WandaSP(m *model.Model, g *graph.Graph, calib []train.Example, opt Options, total int) ([]graph.Group, error) {
	if err := checkActivationOptions(opt); err != nil {
		return nil, err
	}
	kindParams := map[string]int{}
	byLayer := map[[2]any][]graph.Group{}
	for _, gr := range g.Groups {
		if gr.Prunable && (gr.Kind == "attention" || gr.Kind == "mlp") {
			kindParams[gr.Kind] += gr.Params
			k := [2]any{gr.Layer, gr.Kind}
			byLayer[k] = append(byLayer[k], gr)
		}
	}
	ratio := map[string]float64{}
	for _, k := range []string{"attention", "mlp"} {
		if kindParams[k] == 0 {
			continue
		}
		if len(opt.KindTargets) > 0 {
			ratio[k] = opt.KindTargets[k] * float64(total) / float64(kindParams[k])
		} else {
			ratio[k] = opt.Target * float64(total) / float64(kindParams["attention"]+kindParams["mlp"])
		}
		if ratio[k] > 1 {
			return nil, fmt.Errorf("wanda-sp: the target needs %.0f%% of the %s groups' parameters, more than all of them", 100*ratio[k], k)
		}
	}
	var removed []graph.Group
	for l := 0; l < m.Layers; l++ {
		st, err := CollectActivations(m, calib)
		if err != nil {
			return nil, err
		}
		scores := WandaSPScores(m, g, st, l)
		var picked []graph.Group
		for _, kind := range []string{"attention", "mlp"} {
			groups := byLayer[[2]any{l, kind}]
			sort.SliceStable(groups, func(a, b int) bool { return scores[groups[a].ID] < scores[groups[b].ID] })
			picked = append(picked, groups[:int(ratio[kind]*float64(len(groups)))]...)
		}
		if err := Zero(m, nil, picked); err != nil {
			return nil, err
		}
		removed = append(removed, picked...)
	}
	return removed, nil
}

// FLAPScores is FLAP's fluctuation metric (WIFV, its default) with the
// standardisation of its adaptive structure search (AL-AM): channel j
// scores Var(X_j)·‖W_:,j‖₂², the sample variance over the calibration
// tokens (the paper's formula; the released code's running estimate
// differs by a factor per module, which the standardisation removes, and
// skips the first sample). Attention channels' scores are squared, as
// the code does. Each module of each layer is standardised over its
// channels ((s − mean)/std, std with n−1); a group scores the mean of its
// channels, comparable across layers and modules.
func FLAPScores(m *model.Model, g *graph.Graph, st *ActivationStats) map[int]float64 {
	projs := projections(m, st)
	standard := make([][2][]float64, m.Layers)
	for l := range projs {
		for i, p := range projs[l] {
			if p.stats == nil {
				continue
			}
			v := p.stats.Var()
			score := make([]float64, p.cols)
			for j := range score {
				var sq float64
				p.column(j, func(w float64) { sq += w * w })
				score[j] = v[j] * sq
				if i == 0 {
					score[j] *= score[j] // lib/prune.py: W_metric ** 2 for o_proj
				}
			}
			standard[l][i] = standardize(score)
		}
	}
	out := map[int]float64{}
	for i := range g.Groups {
		gr := &g.Groups[i]
		if !gr.Prunable {
			continue
		}
		which, channels, ok := groupChannels(gr)
		z := standard[gr.Layer][which]
		if !ok || z == nil {
			continue
		}
		var s float64
		for _, j := range channels {
			s += z[j]
		}
		out[gr.ID] = s / float64(len(channels))
	}
	return out
}

// standardize returns (x − mean)/std with the sample standard deviation
// (torch.std); all zeros when x has no spread.
func standardize(x []float64) []float64 {
	out := make([]float64, len(x))
	if len(x) < 2 {
		return out
	}
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(len(x)-1))
	if std == 0 {
		return out
	}
	for i, v := range x {
		out[i] = (v - mean) / std
	}
	return out
}

// FLAP selects the lowest standardised scores across every layer and
// module until target·total parameters are removed (FLAP's global
// threshold weighs each head by its parameters, as SelectLowest does), the
// output biases its compensation adds counted against the target, and
// writes the compensation into m: each layer's Wo and Wdown get an output
// bias W_:,R·mean(X_R) over their removed input channels R, so that on
// the calibration data the pruned layer's mean output equals the dense
// one's. Compress then removes the groups and keeps the biases.
func FLAP(m *model.Model, g *graph.Graph, calib []train.Example, opt Options, total int) ([]graph.Group, error) {
	if err := checkActivationOptions(opt); err != nil {
		return nil, err
	}
	st, err := CollectActivations(m, calib)
	if err != nil {
		return nil, err
	}
	scores := FLAPScores(m, g, st)
	target, kinds := opt.Target, opt.KindTargets
	if !m.OutBias && total > 0 {
		biases := 0
		for l := 0; l < m.Layers; l++ {
			biases += m.Dim * (min(m.Heads[l], 1) + min(m.FFN[l], 1)) // one Bo, one Bdown
		}
		target += float64(biases) / float64(total)
	}
	groups := SelectLowest(g, scores, target, kinds, total)
	if err := Compensate(m, st, groups); err != nil {
		return nil, err
	}
	return groups, nil
}

// Compensate adds to each layer's Wo and Wdown output bias the mean
// contribution of the input channels the groups remove,
// b_i += Σ_{j∈R} W_ij·mean(X_j) (FLAP's compress in lib/prune.py), giving
// every layer with attention or MLP an output bias (zero where nothing is
// removed).
func Compensate(m *model.Model, st *ActivationStats, groups []graph.Group) error {
	if !m.OutBias {
		m.OutBias = true
		for l := range m.Blocks {
			L := &m.Blocks[l]
			if m.Heads[l] > 0 {
				L.Bo = make([]float32, m.Dim)
			}
			if m.FFN[l] > 0 {
				L.Bdown = make([]float32, m.Dim)
			}
		}
	}
	projs := projections(m, st)
	for i := range groups {
		gr := &groups[i]
		which, channels, ok := groupChannels(gr)
		p := projs[gr.Layer][which]
		if !ok || p.stats == nil {
			continue
		}
		b := m.Blocks[gr.Layer].Bo
		if which == 1 {
			b = m.Blocks[gr.Layer].Bdown
		}
		if len(b) != p.rows {
			return fmt.Errorf("prune: layer %d's output bias has %d entries for %d rows", gr.Layer, len(b), p.rows)
		}
		for r := 0; r < p.rows; r++ {
			var s float64
			for _, j := range channels {
				s += float64(p.w[r*p.cols+j]) * p.stats.Mean[j]
			}
			b[r] += float32(s)
		}
	}
	return nil
}
