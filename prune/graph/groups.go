package graph

import (
	"sort"
	"strconv"
)

// groupAcc collects the slices and traits of one union-find set.
type groupAcc struct {
	producers, consumers, elements map[[2]any][]int // (tensor, axis) → indices
	hasAttention, hasResidual      bool
	logits                         bool
	layer                          int
}

func newAcc() *groupAcc {
	return &groupAcc{producers: map[[2]any][]int{}, consumers: map[[2]any][]int{}, elements: map[[2]any][]int{}, layer: -2}
}

// groups derives the channel groups: union-find over (edge, channel)
// slots with the pass-through rules of each operator, then slices from the
// stems around each set.
func (b *builder) groups() {
	g := b.g
	total := 0
	for i := range g.Edges {
		g.Edges[i].slotStart = total
		total += g.Edges[i].Channels
	}
	slot := func(e, c int) int { return g.Edges[e].slotStart + c }
	u := newUnionFind(total)
	for _, n := range g.Nodes {
		switch n.Op {
		case OpRMSNorm, OpSiLU, OpMul, OpAdd:
			// Element-wise: channel c of every input and output is one channel.
			all := append(append([]int(nil), n.Inputs...), n.Outputs...)
			for c := 0; c < g.Edges[all[0]].Channels; c++ {
				for _, e := range all[1:] {
					u.union(slot(all[0], c), slot(e, c))
				}
			}
		case OpRoPE:
			// Rotations couple the pairs of each head: adjacent ones, or
			// (i, i+ropeDim/2) in NeoX mode.
			in, out := n.Inputs[0], n.Outputs[0]
			half := n.RopeDim / 2
			for c := 0; c < g.Edges[in].Channels; c++ {
				u.union(slot(in, c), slot(out, c))
				switch i := c % n.HeadDim; {
				case n.Neox && i >= half && i < n.RopeDim:
					u.union(slot(in, c), slot(in, c-half))
				case !n.Neox && i < n.RopeDim && c%2 == 1:
					u.union(slot(in, c), slot(in, c-1))
				}
			}
		case OpHeadNorm:
			// A head's channels are normalised together; the weight is shared
			// by every head, so it is no group's element and stays whole.
			in, out := n.Inputs[0], n.Outputs[0]
			for c := 0; c < g.Edges[in].Channels; c++ {
				u.union(slot(in, c), slot(out, c))
				if c%n.HeadDim > 0 {
					u.union(slot(in, c), slot(in, c-1))
				}
			}
		case OpAttention:
			// A KV head with the query heads that share it is atomic: its k, v
			// channels, those query heads' q channels and output channels.
			q, k, v, o := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Outputs[0]
			group := n.Heads / n.KVHeads
			for j := 0; j < n.KVHeads; j++ {
				root := slot(k, j*n.HeadDim)
				for c := j * n.HeadDim; c < (j+1)*n.HeadDim; c++ {
					u.union(root, slot(k, c))
					u.union(root, slot(v, c))
				}
				for h := j * group; h < (j+1)*group; h++ {
					for c := h * n.HeadDim; c < (h+1)*n.HeadDim; c++ {
						u.union(root, slot(q, c))
						u.union(root, slot(o, c))
					}
				}
			}
		case OpOutput:
			// The vocabulary is the model's output: its channels stay together.
			out := n.Outputs[0]
			for c := 1; c < g.Edges[out].Channels; c++ {
				u.union(slot(out, 0), slot(out, c))
			}
		}
	}
	accs := map[int]*groupAcc{}
	acc := func(e, c int) *groupAcc {
		r := u.find(slot(e, c))
		a := accs[r]
		if a == nil {
			a = newAcc()
			accs[r] = a
		}
		return a
	}
	add := func(m map[[2]any][]int, tensor string, axis, idx int) {
		k := [2]any{tensor, axis}
		m[k] = append(m[k], idx)
	}
	for _, n := range g.Nodes {
		for _, e := range n.Outputs {
			for c := 0; c < g.Edges[e].Channels; c++ {
				a := acc(e, c)
				if n.Layer >= 0 && (a.layer == -2 || a.layer == n.Layer) {
					a.layer = n.Layer
				} else if n.Layer >= 0 || n.Op == OpAdd {
					a.layer = -1
				}
				if g.Edges[e].IsLogits {
					a.logits = true
				}
				switch n.Op {
				case OpEmbedding:
					add(a.producers, n.Weight, 1, c)
				case OpLinear, OpOutput:
					add(a.producers, n.Weight, 0, c) // rows are the output channels (tied: the embedding's rows, the vocabulary)
					if n.Bias != "" {
						add(a.producers, n.Bias, 0, c)
					}
					if n.LoRA {
						add(a.producers, LoRAB(n.Weight), 0, c)
					}
				case OpAttention:
					a.hasAttention = true
				case OpAdd:
					a.hasResidual = true
				}
			}
		}
		for _, e := range n.Inputs {
			for c := 0; c < g.Edges[e].Channels; c++ {
				a := acc(e, c)
				switch n.Op {
				case OpLinear, OpOutput:
					add(a.consumers, n.Weight, 1, c)
					if n.LoRA {
						add(a.consumers, LoRAA(n.Weight), 1, c)
					}
				case OpRMSNorm:
					add(a.elements, n.Weight, 0, c)
				case OpAttention:
					a.hasAttention = true
				}
			}
		}
	}
	// Order groups by layer, then kind, then first producer index, so ids
	// are stable and readable.
	type keyed struct {
		g     Group
		order [3]int
	}
	var all []keyed
	kindOrder := map[string]int{"attention": 0, "mlp": 1, "hidden": 2, "output": 3}
	for _, a := range accs {
		gr := Group{Layer: a.layer, Prunable: true}
		switch {
		case a.logits:
			gr.Kind = "output"
		case a.hasAttention:
			gr.Kind = "attention"
		case a.hasResidual:
			gr.Kind = "hidden"
		default:
			gr.Kind = "mlp"
		}
		if gr.Kind == "hidden" || gr.Kind == "output" {
			gr.Layer = -1
		}
		gr.Producers = toSlices(a.producers)
		gr.Consumers = toSlices(a.consumers)
		gr.Elements = toSlices(a.elements)
		if len(gr.Producers) == 0 && len(gr.Consumers) == 0 && len(gr.Elements) == 0 {
			continue // the token-id edge carries no channels
		}
		first := 0
		if len(gr.Producers) > 0 && len(gr.Producers[0].Ranges) > 0 {
			first = gr.Producers[0].Ranges[0].Lo
		}
		all = append(all, keyed{gr, [3]int{gr.Layer, kindOrder[gr.Kind], first}})
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].order, all[j].order
		if (a[0] < 0) != (b[0] < 0) {
			return b[0] < 0 // block groups first, then global ones
		}
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
	for i := range all {
		gr := all[i].g
		gr.ID = i
		b.count(&gr)
		g.Groups = append(g.Groups, gr)
	}
	b.markUnprunable()
}

// toSlices turns (tensor, axis) → indices into sorted slices of ranges.
func toSlices(m map[[2]any][]int) []Slice {
	var out []Slice
	for k, idx := range m {
		sort.Ints(idx)
		s := Slice{Tensor: k[0].(string), Axis: k[1].(int)}
		for i, v := range idx {
			if i > 0 && v == idx[i-1] {
				continue // a tied tensor read twice at the same index
			}
			if n := len(s.Ranges); n > 0 && s.Ranges[n-1].Hi == v {
				s.Ranges[n-1].Hi++
			} else {
				s.Ranges = append(s.Ranges, Range{v, v + 1})
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tensor != out[j].Tensor {
			return out[i].Tensor < out[j].Tensor
		}
		return out[i].Axis < out[j].Axis
	})
	return out
}

// IsLoRA reports whether a tensor name is a LoRA factor.
func IsLoRA(tensor string) bool {
	n := len(tensor)
	return n > 7 && (tensor[n-7:] == ".lora_a" || tensor[n-7:] == ".lora_b")
}

// count sets a group's parameter counts: every selected index of a
// matrix removes a row or column of it. An index selected both as producer
// and consumer of the same tensor and axis (tied weights) counts once.
func (b *builder) count(gr *Group) {
	seen := map[[2]any]map[int]bool{}
	for _, list := range [][]Slice{gr.Producers, gr.Consumers, gr.Elements} {
		for _, s := range list {
			k := [2]any{s.Tensor, s.Axis}
			if seen[k] == nil {
				seen[k] = map[int]bool{}
			}
			rows, cols := b.g.shapes[s.Tensor][0], b.g.shapes[s.Tensor][1]
			per := 1
			if cols > 0 {
				per = cols
				if s.Axis == 1 {
					per = rows
				}
			}
			for _, i := range s.Indices() {
				if seen[k][i] {
					continue
				}
				seen[k][i] = true
				if IsLoRA(s.Tensor) {
					gr.LoRAParams += per
				} else {
					gr.Params += per
				}
			}
		}
	}
}

// markUnprunable applies OTO's rules (step 10): the model output, groups
// without parameters, hidden channels unless asked for, and groups that
// share weights with an unprunable group.
func (b *builder) markUnprunable() {
	g := b.g
	for i := range g.Groups {
		gr := &g.Groups[i]
		switch {
		case gr.Kind == "output":
			gr.Prunable, gr.Reason = false, "touches the model output (the vocabulary)"
		case gr.Params == 0:
			gr.Prunable, gr.Reason = false, "has no trainable parameters"
		case len(gr.Producers) == 0:
			gr.Prunable, gr.Reason = false, "has no stem producing it"
		case gr.Kind == "hidden" && !b.opt.Hidden:
			gr.Prunable, gr.Reason = false, "hidden (residual) channels are pruned only with --hidden"
		}
	}
	// Shared weights: a prunable group whose slices overlap an unprunable
	// group's slices of the same tensor and axis cannot be removed alone.
	type tensorAxis struct {
		tensor string
		axis   int
	}
	type owned struct {
		r     Range
		group int
	}
	owner := map[tensorAxis][]owned{}
	for i, gr := range g.Groups {
		if gr.Prunable {
			continue
		}
		for _, s := range append(append([]Slice(nil), gr.Producers...), gr.Consumers...) {
			for _, r := range s.Ranges {
				k := tensorAxis{s.Tensor, s.Axis}
				owner[k] = append(owner[k], owned{r, i})
			}
		}
	}
	for i := range g.Groups {
		gr := &g.Groups[i]
		if !gr.Prunable {
			continue
		}
		for _, s := range append(append([]Slice(nil), gr.Producers...), gr.Consumers...) {
			for _, r := range s.Ranges {
				for _, o := range owner[tensorAxis{s.Tensor, s.Axis}] {
					if r.Lo < o.r.Hi && o.r.Lo < r.Hi {
						gr.Prunable, gr.Reason = false, "shares weights with unprunable group "+strconv.Itoa(o.group)
					}
				}
			}
		}
	}
}
