package graph

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

func tiny(t *testing.T, mod func(c *model.Config)) *model.Model {
	c := model.UniformConfig(16, 24, 2, 4, 2, 30, 32)
	if mod != nil {
		mod(&c)
	}
	m, err := model.NewRandom(c, tensor.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNodeGroups: OTO's node groups of a block are the attention
// component (rope, attention core with q, k, v), the MLP component
// (silu, mul with gate, up) and the residual component spanning the model.
func TestNodeGroups(t *testing.T) {
	g := Build(tiny(t, nil), Options{LoRARank: 2})
	var ops []string
	for _, ng := range g.NodeGroups {
		var names []string
		for _, id := range ng {
			names = append(names, g.Nodes[id].Name)
		}
		ops = append(ops, strings.Join(names, ","))
	}
	want := []string{
		"token_embd,blk.0.attn_norm,blk.0.attn_output,blk.0.attn_residual,blk.0.ffn_norm,blk.0.ffn_down,blk.0.ffn_residual,blk.1.attn_norm,blk.1.attn_output,blk.1.attn_residual,blk.1.ffn_norm,blk.1.ffn_down,blk.1.ffn_residual,output_norm",
		"blk.0.attn_q,blk.0.attn_k,blk.0.attn_v,blk.0.rope_q,blk.0.rope_k,blk.0.attention",
		"blk.0.ffn_up,blk.0.ffn_gate,blk.0.silu,blk.0.mul",
	}
	for _, w := range want {
		found := false
		for _, o := range ops {
			found = found || o == w
		}
		if !found {
			t.Errorf("node group %q missing; have:\n%s", w, strings.Join(ops, "\n"))
		}
	}
	if len(g.NodeGroups) != 5 {
		t.Errorf("%d node groups, want 5 (residual + 2 × (attention, MLP))", len(g.NodeGroups))
	}
}

func TestJSONAndDOT(t *testing.T) {
	g := Build(tiny(t, func(c *model.Config) { c.QKVBias = true }), Options{Hidden: true, LoRARank: 2})
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []map[string]any `json:"groups"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "kind", "layer", "params", "prunable", "producers", "consumers"} {
		if _, ok := doc.Groups[0][key]; !ok {
			t.Errorf("group JSON lacks %q", key)
		}
	}
	// The q bias rides with the attention group's producers.
	if !strings.Contains(string(b), `"tensor":"blk.0.attn_q.bias"`) {
		t.Error("q bias is not among any group's producers")
	}
	dot := g.DOT()
	if !strings.HasPrefix(dot, "digraph") || !strings.Contains(dot, "cluster_1") {
		t.Fatalf("DOT output looks wrong:\n%s", dot[:200])
	}
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz dot not installed: DOT not rendered")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "g.dot")
	os.WriteFile(in, []byte(dot), 0o644)
	out, err := exec.Command("dot", "-Tsvg", in).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<svg") {
		t.Fatalf("dot -Tsvg failed: %v\n%s", err, out)
	}
}
