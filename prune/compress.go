// Package prune implements LoRAShear's structured pruning on top of the
// dependency graph (prune/graph): zeroing and physically removing groups,
// knowledge distribution analysis, LHSPG, the baselines and recovery.
package prune

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// ref locates a named tensor of a model or its adapter: a matrix, a
// vector, or a LoRA factor (A or B, stored row-major).
type ref struct {
	mat  **tensor.Matrix
	vec  *[]float32
	mod  *lora.Module
	isA  bool
	rows int
	cols int
}

// lookup resolves a tensor name such as "blk.3.ffn_up.weight" (through
// the model's tensor table) or "blk.3.ffn_up.lora_b" (a factor of the
// adapter's module on that matrix).
func lookup(m *model.Model, ad *lora.Adapter, name string) (ref, error) {
	l, base, suffix, err := model.SplitName(name)
	if err != nil {
		return ref{}, fmt.Errorf("prune: %w", err)
	}
	if suffix == "lora_a" || suffix == "lora_b" {
		mod := loraModule(ad, l, base)
		if mod == nil {
			return ref{}, fmt.Errorf("prune: no LoRA module for %q", name)
		}
		if suffix == "lora_a" {
			return ref{mod: mod, isA: true, rows: mod.Rank, cols: mod.In}, nil
		}
		return ref{mod: mod, rows: mod.Out, cols: mod.Rank}, nil
	}
	r, err := m.Tensor(name)
	if err != nil {
		return ref{}, fmt.Errorf("prune: %w", err)
	}
	return ref{mat: r.Mat, vec: r.Vec}, nil
}

// loraModule is the adapter's module on the matrix blk.l.base.weight (nil
// when there is none).
func loraModule(ad *lora.Adapter, l int, base string) *lora.Module {
	k, ok := model.KindOf(base, "weight", true)
	t, isTarget := lora.TargetOf(k)
	if ad == nil || !ok || !isTarget || l < 0 || l >= len(ad.Modules) {
		return nil
	}
	return ad.Modules[l][t]
}

// Zero sets the producer slices of the given groups to zero (LoRA B rows
// and biases included). The model's matrices are rewritten in their own
// storage type.
func Zero(m *model.Model, ad *lora.Adapter, groups []graph.Group) error {
	byTensor := map[string][]graph.Slice{}
	for _, gr := range groups {
		for _, s := range gr.Producers {
			byTensor[s.Tensor] = append(byTensor[s.Tensor], s)
		}
	}
	for name, ss := range byTensor {
		if graph.IsLoRA(name) && ad == nil {
			continue
		}
		r, err := lookup(m, ad, name)
		if err != nil {
			return err
		}
		switch {
		case r.mod != nil:
			data := r.mod.B
			if r.isA {
				data = r.mod.A
			}
			for _, s := range ss {
				zeroSlice(data, r.rows, r.cols, s)
			}
		case r.vec != nil:
			for _, s := range ss {
				zeroSlice(*r.vec, len(*r.vec), 1, s)
			}
		default:
			w := *r.mat
			data := w.Float32()
			for _, s := range ss {
				zeroSlice(data, w.Rows, w.Cols, s)
			}
			nw, err := tensor.New(w.Rows, w.Cols, data, w.DType)
			if err != nil {
				return err
			}
			**r.mat = *nw // in place: a tied output shares the pointer
		}
	}
	return nil
}

func zeroSlice(data []float32, rows, cols int, s graph.Slice) {
	for _, i := range s.Indices() {
		if s.Axis == 0 {
			clear(data[i*cols : (i+1)*cols])
		} else {
			for r := 0; r < rows; r++ {
				data[r*cols+i] = 0
			}
		}
	}
}

// Select returns the groups with the given ids, checking that each exists,
// is prunable and appears once.
func Select(g *graph.Graph, ids []int) ([]graph.Group, error) {
	seen := map[int]bool{}
	var out []graph.Group
	for _, id := range ids {
		if id < 0 || id >= len(g.Groups) {
			return nil, fmt.Errorf("prune: group %d does not exist (the graph has %d groups)", id, len(g.Groups))
		}
		if seen[id] {
			return nil, fmt.Errorf("prune: group %d is listed twice", id)
		}
		seen[id] = true
		if !g.Groups[id].Prunable {
			return nil, fmt.Errorf("prune: group %d (%s) is not prunable: %s", id, g.Groups[id].Kind, g.Groups[id].Reason)
		}
		out = append(out, g.Groups[id])
	}
	return out, nil
}

// keep lists 0..n-1 without the removed indices.
func keep(n int, removed map[int]bool) []int {
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		if !removed[i] {
			out = append(out, i)
		}
	}
	return out
}

func sliceRowsCols[T float32 | uint16](data []T, cols int, rows, keepCols []int) []T {
	out := make([]T, 0, len(rows)*len(keepCols))
	for _, r := range rows {
		row := data[r*cols : (r+1)*cols]
		for _, c := range keepCols {
			out = append(out, row[c])
		}
	}
	return out
}

// shallowClone copies m's structure, sharing its tensors' data.
func shallowClone(m *model.Model) *model.Model {
	c := *m
	c.Config.Heads = slices.Clone(m.Heads)
	c.Config.KVHeads = slices.Clone(m.KVHeads)
	c.Config.FFN = slices.Clone(m.FFN)
	c.Blocks = slices.Clone(m.Blocks)
	c.Meta = slices.Clone(m.Meta)
	return &c
}

// ownAll gives nm a copy of every tensor it still shares with m.
func ownAll(nm, m *model.Model) {
	src := m.Tensors()
	for i, r := range nm.Tensors() {
		switch {
		case r.Mat != nil && *r.Mat != nil && *r.Mat == *src[i].Mat:
			w := **r.Mat
			w.F32, w.F16, w.Q = slices.Clone(w.F32), slices.Clone(w.F16), slices.Clone(w.Q)
			*r.Mat = &w
		case r.Vec != nil && len(*r.Vec) > 0 && len(*src[i].Vec) > 0 && &(*r.Vec)[0] == &(*src[i].Vec)[0]:
			*r.Vec = slices.Clone(*r.Vec)
		}
	}
}

// Compress builds the smaller dense model (and adapter, if given) without
// the given groups: every producer row, consumer column and norm element
// of a group is removed. Per-layer head counts, KV-head counts and FFN
// widths follow from what is left; a layer left without heads or channels
// loses its attention or MLP. Removing hidden channels rescales the norms
// (ε·d/d′ and weights·√(d/d′)) so the result equals the zeroed model.
func Compress(m *model.Model, ad *lora.Adapter, g *graph.Graph, groups []graph.Group) (*model.Model, *lora.Adapter, error) {
	removed := map[string][2]map[int]bool{} // tensor → per-axis removed indices
	mark := func(s graph.Slice) {
		r := removed[s.Tensor]
		if r[s.Axis] == nil {
			r[s.Axis] = map[int]bool{}
		}
		for _, i := range s.Indices() {
			r[s.Axis][i] = true
		}
		removed[s.Tensor] = r
	}
	for _, gr := range groups {
		for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers, gr.Elements} {
			for _, s := range list {
				mark(s)
			}
		}
	}
	// nm shares m's tensors until the loop below replaces the sliced ones;
	// then the rest are copied (ownAll), so m and nm never share data and
	// the sliced tensors are not copied twice.
	nm := shallowClone(m)
	var nad *lora.Adapter
	if ad != nil {
		nad = &lora.Adapter{Config: ad.Config, Modules: make([][lora.NumTargets]*lora.Module, len(ad.Modules))}
		for l := range ad.Modules {
			for t, mod := range ad.Modules[l] {
				if mod != nil {
					c := *mod
					c.A, c.B = slices.Clone(mod.A), slices.Clone(mod.B)
					nad.Modules[l][t] = &c
				}
			}
		}
	}
	names := g.TensorNames()
	for _, name := range names {
		rm := removed[name]
		if rm[0] == nil && rm[1] == nil {
			continue
		}
		if (name == model.Output.Name(-1) && m.Tied) || (graph.IsLoRA(name) && nad == nil) {
			continue
		}
		r, err := lookup(nm, nad, name)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case r.mod != nil:
			rows, cols := keep(r.rows, rm[0]), keep(r.cols, rm[1])
			if r.isA {
				r.mod.A = sliceRowsCols(r.mod.A, r.cols, rows, cols)
				r.mod.In = len(cols)
			} else {
				r.mod.B = sliceRowsCols(r.mod.B, r.cols, rows, cols)
				r.mod.Out = len(rows)
			}
		case r.vec != nil:
			v := *r.vec
			kept := keep(len(v), rm[0])
			*r.vec = sliceRowsCols(v, 1, kept, []int{0})
		default:
			w := *r.mat
			rows, cols := keep(w.Rows, rm[0]), keep(w.Cols, rm[1])
			if w.DType == tensor.F16 { // as stored: no float32 copy of the matrix
				*r.mat = &tensor.Matrix{Rows: len(rows), Cols: len(cols), DType: tensor.F16, F16: sliceRowsCols(w.F16, w.Cols, rows, cols)}
				continue
			}
			data := sliceRowsCols(w.Float32(), w.Cols, rows, cols)
			dt := w.DType
			if (dt == tensor.Q8_0 || dt == tensor.Q4_0) && len(cols)%32 != 0 {
				dt = tensor.F16 // quantized rows must stay whole blocks
			}
			nw, err := tensor.New(len(rows), len(cols), data, dt)
			if err != nil {
				return nil, nil, err
			}
			*r.mat = nw
		}
	}
	ownAll(nm, m)
	if nm.Tied {
		nm.Output = nm.Embed
	}
	// Shapes follow from the sliced tensors.
	c := &nm.Config
	oldDim := c.Dim
	c.Dim = nm.Embed.Cols
	for l := range nm.Blocks {
		L := &nm.Blocks[l]
		if L.Wq != nil {
			c.Heads[l], c.KVHeads[l] = L.Wq.Rows/c.HeadDim, L.Wk.Rows/c.HeadDim
		}
		if c.Heads[l] == 0 {
			c.KVHeads[l] = 0
		}
		if L.Wup != nil {
			c.FFN[l] = L.Wup.Rows
		}
	}
	if err := foldEmptiedBiases(nm); err != nil {
		return nil, nil, err
	}
	// A sublayer left without heads or channels loses all of its tensors,
	// its norm (and Qwen3's q/k norms, which no group slices) included.
	nm.DropAbsent()
	for l := range nm.Blocks {
		L := &nm.Blocks[l]
		if nad != nil {
			for t := range nad.Modules[l] {
				if nad.Modules[l][t] != nil && lora.Target(t).Weight(L) == nil {
					nad.Modules[l][t] = nil
				}
			}
		}
	}
	if c.Dim != oldDim {
		// RMSNorm averages over d channels: keep every norm's output equal
		// to the zeroed model's by scaling ε and the weights.
		ratio := float64(oldDim) / float64(c.Dim)
		c.NormEps = float32(float64(c.NormEps) * ratio)
		s := float32(math.Sqrt(ratio))
		scale := func(v []float32) {
			for i := range v {
				v[i] *= s
			}
		}
		scale(nm.OutNorm)
		for l := range nm.Blocks {
			scale(nm.Blocks[l].AttnNorm)
			scale(nm.Blocks[l].FFNNorm)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("prune: the compressed model is invalid: %w", err)
	}
	return nm, nad, nil
}

// foldEmptiedBiases moves the output bias of each sublayer left without
// heads or channels (Bo, Bdown: a constant it adds to the residual stream,
// FLAP's compensation of everything it removed) into the output bias of the
// nearest earlier sublayer that remains, or into every embedding row when
// none does: nothing reads the stream in between, so the sum is unchanged
// and the model equals the zeroed one. A tied embedding is also the output
// projection and cannot take it.
func foldEmptiedBiases(m *model.Model) error {
	if !m.OutBias {
		return nil
	}
	var last []float32 // the latest remaining sublayer's output bias
	for l := range m.Blocks {
		L := &m.Blocks[l]
		for _, sub := range []struct {
			bias  *[]float32
			empty bool
			name  string
		}{{&L.Bo, m.Heads[l] == 0, "attention"}, {&L.Bdown, m.FFN[l] == 0, "MLP"}} {
			b := *sub.bias
			switch {
			case b == nil:
			case !sub.empty:
				last = b
			case last != nil:
				for i, v := range b {
					last[i] += v
				}
			case m.Tied:
				return fmt.Errorf("prune: layer %d's %s is removed entirely and its output bias has no earlier sublayer to move to (the embedding is tied to the output); keep one of its groups", l, sub.name)
			default:
				e := m.Embed.Float32()
				for r := 0; r < m.Embed.Rows; r++ {
					for i, v := range b {
						e[r*m.Embed.Cols+i] += v
					}
				}
				ne, err := tensor.New(m.Embed.Rows, m.Embed.Cols, e, m.Embed.DType)
				if err != nil {
					return err
				}
				m.Embed = ne
			}
		}
	}
	return nil
}

// RemovedParams counts the base and LoRA parameters that removing groups
// takes away: the union of their slices, so an entry where two groups
// cross (a hidden channel's column of an MLP channel's row) counts once.
// Compress may drop more: the norm and the unsliced LoRA factors of a
// sublayer left with no heads or channels.
func RemovedParams(g *graph.Graph, groups []graph.Group) (base, adapter int) {
	removed := map[string][2]map[int]bool{}
	for _, gr := range groups {
		for _, list := range [][]graph.Slice{gr.Producers, gr.Consumers, gr.Elements} {
			for _, s := range list {
				r := removed[s.Tensor]
				if r[s.Axis] == nil {
					r[s.Axis] = map[int]bool{}
				}
				for _, i := range s.Indices() {
					r[s.Axis][i] = true
				}
				removed[s.Tensor] = r
			}
		}
	}
	for name, r := range removed {
		rows, cols, _ := g.Shape(name)
		nr, nc := len(r[0]), len(r[1])
		var n int
		if cols == 0 {
			n = nr
		} else {
			n = nr*cols + nc*rows - nr*nc
		}
		if graph.IsLoRA(name) {
			adapter += n
		} else {
			base += n
		}
	}
	return base, adapter
}

// SortedIDs returns the ids of groups in ascending order.
func SortedIDs(groups []graph.Group) []int {
	ids := make([]int, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	sort.Ints(ids)
	return ids
}
