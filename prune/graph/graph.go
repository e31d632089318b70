// Package graph builds the operator graph of a LLaMA-family model with its
// LoRA modules and derives from it the minimally removal structures that
// structured pruning removes (docs/LORASHEAR.md §2, after OTO).
//
// Nodes are operators, edges are tensors carrying channels. Stem operators
// (embedding, LoRA-composed linears, the output projection) change the
// channel space; every other operator passes channels through, the
// attention core in whole KV-head groups. Union-find over (edge, channel)
// slots joins every channel that must go together; each resulting set is
// one group, whose producer slices (the stems' rows that create the
// channels, LoRA B rows included) and consumer slices (the columns that
// read them, LoRA A columns included) come from the stems touching it. No
// part of this is specific to a model variant: GQA or MHA, tied or untied
// output, q/k/v biases and MLPs without a gate all fall out of the same
// rules.
package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shear-ai/shear/runtime/model"
)

// Op is an operator kind.
type Op string

const (
	OpEmbedding Op = "embedding"
	OpLinear    Op = "linear" // W (+ bias) (+ LoRA A, B): one composed node
	OpOutput    Op = "output" // the final projection to logits
	OpRMSNorm   Op = "rmsnorm"
	OpRoPE      Op = "rope"
	OpHeadNorm  Op = "headnorm"  // RMSNorm of each head with one weight shared by all heads (Qwen3's q/k norm)
	OpAttention Op = "attention" // causal softmax(qkᵀ)v over heads
	OpSiLU      Op = "silu"
	OpMul       Op = "mul"
	OpAdd       Op = "add" // residual
)

// Stem reports whether the operator changes the channel space.
func (o Op) Stem() bool { return o == OpEmbedding || o == OpLinear || o == OpOutput }

// Node is one operator.
type Node struct {
	ID      int    `json:"id"`
	Op      Op     `json:"op"`
	Name    string `json:"name"`
	Layer   int    `json:"layer"` // -1 outside the blocks
	Inputs  []int  `json:"inputs"`
	Outputs []int  `json:"outputs"`
	Weight  string `json:"weight,omitempty"` // tensor name (stems, norms)
	Bias    string `json:"bias,omitempty"`
	LoRA    bool   `json:"lora,omitempty"` // a LoRA pair is composed into the node
	// Attention metadata.
	Heads   int  `json:"heads,omitempty"`
	KVHeads int  `json:"kv_heads,omitempty"`
	HeadDim int  `json:"head_dim,omitempty"`
	RopeDim int  `json:"rope_dim,omitempty"`
	Neox    bool `json:"neox,omitempty"` // RoPE pairs (i, i+rope_dim/2) instead of (2i, 2i+1)
}

// Edge is a tensor flowing from one node to others.
type Edge struct {
	ID        int   `json:"id"`
	From      int   `json:"from"` // producing node (-1: the token ids)
	To        []int `json:"to"`
	Channels  int   `json:"channels"`
	IsLogits  bool  `json:"logits,omitempty"`
	slotStart int
}

// Range is a half-open index range [Lo, Hi).
type Range struct{ Lo, Hi int }

// MarshalJSON writes a range as [lo, hi].
func (r Range) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("[%d,%d]", r.Lo, r.Hi)), nil }

// Slice selects indices along one axis of a tensor: axis 0 is rows (or a
// vector's elements), axis 1 columns.
type Slice struct {
	Tensor string  `json:"tensor"`
	Axis   int     `json:"axis"`
	Ranges []Range `json:"ranges"`
}

// Len is the number of selected indices.
func (s Slice) Len() int {
	n := 0
	for _, r := range s.Ranges {
		n += r.Hi - r.Lo
	}
	return n
}

// Indices lists the selected indices in order.
func (s Slice) Indices() []int {
	var out []int
	for _, r := range s.Ranges {
		for i := r.Lo; i < r.Hi; i++ {
			out = append(out, i)
		}
	}
	return out
}

// Group is one minimally removal structure.
type Group struct {
	ID         int     `json:"id"`
	Kind       string  `json:"kind"` // attention, mlp, hidden, output
	Layer      int     `json:"layer"`
	Params     int     `json:"params"`      // base-model parameters removed with the group
	LoRAParams int     `json:"lora_params"` // adapter parameters removed with it
	Prunable   bool    `json:"prunable"`
	Reason     string  `json:"reason,omitempty"` // why not prunable
	Producers  []Slice `json:"producers"`
	Consumers  []Slice `json:"consumers"`
	Elements   []Slice `json:"elements,omitempty"` // pass-through parameters (norm weights)
}

// Graph is the operator graph and the groups derived from it.
type Graph struct {
	Nodes  []Node  `json:"nodes"`
	Edges  []Edge  `json:"edges"`
	Groups []Group `json:"groups"`
	// NodeGroups are OTO's node groups: connected components of non-stem
	// operators together with the stems that feed them (node ids).
	NodeGroups [][]int `json:"node_groups"`

	shapes map[string][2]int // tensor → rows, cols (vectors: n, 0)
}

// Options control group derivation.
type Options struct {
	Hidden   bool // hidden (residual) channels are prunable
	LoRARank int  // rank of the composed LoRA modules (0: none)
}

// Shape returns the rows and columns of a tensor the graph names.
func (g *Graph) Shape(tensor string) (rows, cols int, ok bool) {
	s, ok := g.shapes[tensor]
	return s[0], s[1], ok
}

// TensorNames lists every tensor the graph's nodes name, sorted.
func (g *Graph) TensorNames() []string {
	var out []string
	for n := range g.shapes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LoRA tensor names for a linear's weight name.
func LoRAA(weight string) string { return weight[:len(weight)-len(".weight")] + ".lora_a" }
func LoRAB(weight string) string { return weight[:len(weight)-len(".weight")] + ".lora_b" }

// Build traces m into a graph (the forward pass of runtime/model, as
// operators) and derives its groups.
func Build(m *model.Model, opt Options) *Graph {
	b := &builder{g: &Graph{shapes: map[string][2]int{}}, m: m, opt: opt}
	b.trace()
	b.g.NodeGroups = b.nodeGroups()
	b.groups()
	return b.g
}

type builder struct {
	g   *Graph
	m   *model.Model
	opt Options
}

func (b *builder) edge(channels int) int {
	id := len(b.g.Edges)
	b.g.Edges = append(b.g.Edges, Edge{ID: id, From: -1, Channels: channels})
	return id
}

// node adds an operator reading inputs and producing new edges of the given widths.
func (b *builder) node(n Node, inputs []int, outWidths ...int) int {
	n.ID = len(b.g.Nodes)
	n.Inputs = inputs
	for _, e := range inputs {
		b.g.Edges[e].To = append(b.g.Edges[e].To, n.ID)
	}
	for _, w := range outWidths {
		e := b.edge(w)
		b.g.Edges[e].From = n.ID
		n.Outputs = append(n.Outputs, e)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n.ID
}

func (b *builder) out(n int) int { return b.g.Nodes[n].Outputs[0] }

func (b *builder) shape(name string, rows, cols int) { b.g.shapes[name] = [2]int{rows, cols} }

// linear adds the projection of kind k in layer l (with its bias kind
// when the model has it); names and shapes come from the model's table.
func (b *builder) linear(k, bias model.Kind, l, in int) int {
	c := &b.m.Config
	rows, cols := k.Info().Shape(c, l)
	w := k.Name(l)
	n := Node{Op: OpLinear, Name: model.BlockPrefix(l) + k.Info().Base, Layer: l, Weight: w, LoRA: b.opt.LoRARank > 0}
	b.shape(w, rows, cols)
	if bias != k && bias.Info().Present(c, l) {
		n.Bias = bias.Name(l)
		b.shape(n.Bias, rows, 0)
	}
	if n.LoRA {
		b.shape(LoRAA(w), b.opt.LoRARank, cols)
		b.shape(LoRAB(w), rows, b.opt.LoRARank)
	}
	return b.out(b.node(n, []int{in}, rows))
}

// norm adds the RMSNorm of kind k (layer l, or -1) over d channels.
func (b *builder) norm(k model.Kind, l, in, d int) int {
	w := k.Name(l)
	b.shape(w, d, 0)
	return b.out(b.node(Node{Op: OpRMSNorm, Name: strings.TrimSuffix(w, ".weight"), Layer: l, Weight: w}, []int{in}, d))
}

// headNorm adds the per-head RMSNorm of kind k (one weight of head size
// shared by every head) if the model has it.
func (b *builder) headNorm(k model.Kind, l, in, heads int) int {
	c := &b.m.Config
	if !k.Info().Present(c, l) {
		return in
	}
	w := k.Name(l)
	b.shape(w, c.HeadDim, 0)
	n := Node{Op: OpHeadNorm, Name: strings.TrimSuffix(w, ".weight"), Layer: l, Weight: w, Heads: heads, HeadDim: c.HeadDim}
	return b.out(b.node(n, []int{in}, heads*c.HeadDim))
}

// trace mirrors runtime/model's forward pass.
func (b *builder) trace() {
	m, c := b.m, &b.m.Config
	d, hd := c.Dim, c.HeadDim
	tokens := b.edge(0)
	embd := model.TokenEmbd.Name(-1)
	b.shape(embd, c.Vocab, d)
	x := b.out(b.node(Node{Op: OpEmbedding, Name: "token_embd", Layer: -1, Weight: embd}, []int{tokens}, d))
	for l := range m.Blocks {
		p := model.BlockPrefix(l)
		H, KV, ff := c.Heads[l], c.KVHeads[l], c.FFN[l]
		if H > 0 {
			xn := b.norm(model.AttnNorm, l, x, d)
			q := b.linear(model.AttnQ, model.AttnQBias, l, xn)
			k := b.linear(model.AttnK, model.AttnKBias, l, xn)
			v := b.linear(model.AttnV, model.AttnVBias, l, xn)
			q = b.headNorm(model.AttnQNorm, l, q, H)
			k = b.headNorm(model.AttnKNorm, l, k, KV)
			rope := Node{Op: OpRoPE, Layer: l, HeadDim: hd, RopeDim: c.RopeDim, Neox: c.NeoxRoPE()}
			rope.Name = p + "rope_q"
			q = b.out(b.node(rope, []int{q}, H*hd))
			rope.Name = p + "rope_k"
			k = b.out(b.node(rope, []int{k}, KV*hd))
			att := b.out(b.node(Node{Op: OpAttention, Name: p + "attention", Layer: l, Heads: H, KVHeads: KV, HeadDim: hd}, []int{q, k, v}, H*hd))
			o := b.linear(model.AttnOutput, model.AttnOutputBias, l, att)
			x = b.out(b.node(Node{Op: OpAdd, Name: p + "attn_residual", Layer: l}, []int{x, o}, d))
		}
		if ff > 0 {
			xn := b.norm(model.FFNNorm, l, x, d)
			up := b.linear(model.FFNUp, model.FFNUp, l, xn)
			var h int
			if model.FFNGate.Info().Present(c, l) {
				gate := b.linear(model.FFNGate, model.FFNGate, l, xn)
				act := b.out(b.node(Node{Op: OpSiLU, Name: p + "silu", Layer: l}, []int{gate}, ff))
				h = b.out(b.node(Node{Op: OpMul, Name: p + "mul", Layer: l}, []int{act, up}, ff))
			} else {
				h = b.out(b.node(Node{Op: OpSiLU, Name: p + "silu", Layer: l}, []int{up}, ff))
			}
			down := b.linear(model.FFNDown, model.FFNDownBias, l, h)
			x = b.out(b.node(Node{Op: OpAdd, Name: p + "ffn_residual", Layer: l}, []int{x, down}, d))
		}
	}
	xn := b.norm(model.OutputNorm, -1, x, d)
	outW := model.Output.Name(-1)
	if m.Tied {
		outW = embd // shared weights: the same tensor
	} else {
		b.shape(outW, c.Vocab, d)
	}
	logits := b.out(b.node(Node{Op: OpOutput, Name: "output", Layer: -1, Weight: outW}, []int{xn}, c.Vocab))
	b.g.Edges[logits].IsLogits = true
}

// unionFind over integer slots.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u unionFind) find(x int) int {
	for u[x] != x {
		u[x] = u[u[x]]
		x = u[x]
	}
	return x
}

func (u unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		if ra < rb {
			u[rb] = ra
		} else {
			u[ra] = rb
		}
	}
}

// nodeGroups: OTO steps 1–3 — connected components of non-stem nodes
// (joined through the edges between them), each grown backwards to the
// stems that feed it.
func (b *builder) nodeGroups() [][]int {
	g := b.g
	u := newUnionFind(len(g.Nodes))
	// Non-stem operators that produce or read the same tensor see the same
	// channels: join them.
	for _, e := range g.Edges {
		first := -1
		if e.From >= 0 && !g.Nodes[e.From].Op.Stem() {
			first = e.From
		}
		for _, to := range e.To {
			if g.Nodes[to].Op.Stem() {
				continue
			}
			if first < 0 {
				first = to
			} else {
				u.union(first, to)
			}
		}
	}
	members := map[int]map[int]bool{}
	for _, n := range g.Nodes {
		if n.Op.Stem() {
			continue
		}
		r := u.find(n.ID)
		if members[r] == nil {
			members[r] = map[int]bool{}
		}
		members[r][n.ID] = true
		for _, in := range n.Inputs {
			if from := g.Edges[in].From; from >= 0 && g.Nodes[from].Op.Stem() {
				members[r][from] = true
			}
		}
	}
	var out [][]int
	for _, set := range members {
		var ids []int
		for id := range set {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		out = append(out, ids)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
