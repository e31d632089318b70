package model_test

import (
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestTensorTable: the table names exactly the tensors of a real file,
// with their shapes, and Tensor finds each one again.
func TestTensorTable(t *testing.T) {
	f, err := gguf.Open(sharedPath(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	refs := m.Tensors()
	if len(refs) != len(f.Tensors) {
		t.Fatalf("table lists %d tensors, the file has %d", len(refs), len(f.Tensors))
	}
	params := 0
	for _, r := range refs {
		ti, ok := f.Tensor(r.Name)
		if !ok {
			t.Fatalf("the table lists %s, the file has no such tensor", r.Name)
		}
		rows, cols := r.Kind.Info().Shape(&m.Config, max(r.Layer, 0))
		n := 1
		for _, d := range ti.Dims {
			n *= int(d)
		}
		if rows*max(cols, 1) != n || int(ti.Dims[len(ti.Dims)-1]) != rows {
			t.Errorf("%s: shape rule %d×%d, file %v", r.Name, rows, cols, ti.Dims)
		}
		params += n
		again, err := m.Tensor(r.Name)
		if err != nil || again.Mat != r.Mat || again.Vec != r.Vec {
			t.Errorf("Tensor(%q) = %+v, %v; want the ref of Tensors", r.Name, again, err)
		}
	}
	if params != m.Params() {
		t.Errorf("Params %d, the file holds %d", m.Params(), params)
	}
	if len(m.Matrices()) != 2+7*m.Layers { // embedding, output, seven projections per layer
		t.Errorf("%d matrices", len(m.Matrices()))
	}
}

func TestTensorNames(t *testing.T) {
	for _, c := range []struct {
		name         string
		layer        int
		base, suffix string
	}{
		{"blk.12.attn_q.bias", 12, "attn_q", "bias"},
		{"output_norm.weight", -1, "output_norm", "weight"},
		{"blk.0.ffn_up.lora_b", 0, "ffn_up", "lora_b"},
	} {
		l, b, s, err := model.SplitName(c.name)
		if err != nil || l != c.layer || b != c.base || s != c.suffix {
			t.Errorf("SplitName(%q) = %d %q %q %v", c.name, l, b, s, err)
		}
	}
	for _, bad := range []string{"blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.-1.attn_q.weight", "blk.3", "attn_q", "blk.3.attn_q.weight.extra", ".weight"} {
		if _, _, _, err := model.SplitName(bad); err == nil {
			t.Errorf("SplitName(%q) accepted", bad)
		}
	}
	m := loadStories(t, tensor.F32)
	for _, bad := range []string{"blk.99.attn_q.weight", "blk.0.attn_q.bias", "blk.0.token_embd.weight", "token_embd.bias", "blk.0.nope.weight"} {
		if _, err := m.Tensor(bad); err == nil {
			t.Errorf("Tensor(%q) accepted", bad)
		}
	}
	tied := m.Clone()
	tied.Tied, tied.Output = true, tied.Embed
	if _, err := tied.Tensor("output.weight"); err == nil {
		t.Error("a tied model's output.weight found as a tensor of its own")
	}
}
