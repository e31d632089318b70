package graph

import (
	"fmt"
	"strings"
)

// DOT renders the operator graph for Graphviz: one cluster per block,
// stems as boxes, pass-through operators as ellipses, edges labelled
// with their channel counts.
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph shear {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8];\n")
	b.WriteString("  tokens [shape=plaintext, label=\"token ids\"];\n")
	byLayer := map[int][]Node{}
	for _, n := range g.Nodes {
		byLayer[n.Layer] = append(byLayer[n.Layer], n)
	}
	writeNode := func(n Node, indent string) {
		shape, color := "ellipse", "#dddddd"
		label := n.Name
		switch {
		case n.Op.Stem():
			shape, color = "box", "#a6cee3"
			if n.LoRA {
				label += "\\n+ LoRA (A, B)"
			}
		case n.Op == OpAttention:
			shape, color = "box3d", "#fdbf6f"
			label += fmt.Sprintf("\\n%d heads / %d KV × %d", n.Heads, n.KVHeads, n.HeadDim)
		case n.Op == OpRMSNorm:
			color = "#b2df8a"
		}
		fmt.Fprintf(&b, "%sn%d [label=\"%s\\n(%s)\", shape=%s, style=filled, fillcolor=\"%s\"];\n", indent, n.ID, label, n.Op, shape, color)
	}
	for _, n := range byLayer[-1] {
		writeNode(n, "  ")
	}
	for l := 0; ; l++ {
		nodes, ok := byLayer[l]
		if !ok {
			break
		}
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=\"block %d\";\n    color=\"#999999\";\n", l, l)
		for _, n := range nodes {
			writeNode(n, "    ")
		}
		b.WriteString("  }\n")
	}
	for _, e := range g.Edges {
		from := "tokens"
		if e.From >= 0 {
			from = fmt.Sprintf("n%d", e.From)
		}
		for _, to := range e.To {
			fmt.Fprintf(&b, "  %s -> n%d [label=\"%d\"];\n", from, to, e.Channels)
		}
		if e.IsLogits {
			fmt.Fprintf(&b, "  logits [shape=plaintext, label=\"logits\"];\n  %s -> logits [label=\"%d\"];\n", from, e.Channels)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
