package app

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestRequestsRoundTripJSON: the requests of the operations that read and
// write files survive JSON unchanged from their defaults, so a front end
// that sends Default() sends what the CLI runs.
func TestRequestsRoundTripJSON(t *testing.T) {
	for _, req := range []any{ConvertRequest{}.Default(), QuantizeRequest{}.Default(), InitRequest{}.Default(), BenchRequest{}.Default(),
		GraphRequest{}.Default(), CompressRequest{Remove: []int{3, 1}}, AnalyzeRequest{}.Default(), MergeRequest{Adapter: "ft"}} {
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(req))
		if err := json.Unmarshal(b, back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), req) {
			t.Errorf("%T: round trip changed %+v into %+v", req, req, back.Elem().Interface())
		}
	}
}

// TestInitWritesTheSpec: the model Init writes loads back with the shape
// it was asked for and the byte-level vocabulary, which spells any text
// byte by byte; a bad shape is a request error that names the width and
// leaves no file.
func TestInitWritesTheSpec(t *testing.T) {
	dir := t.TempDir()
	req := InitRequest{}.Default()
	req.Spec = model.FamilySpec{Arch: "qwen2", Dim: 64, FFN: 96, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 300, Ctx: 64}
	req.Output = filepath.Join(dir, "m.gguf")
	res, err := Init(req)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(req.Output, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != "qwen2" || m.Dim != 64 || m.Layers != 2 || m.Vocab != 300 || m.CtxLen != 64 || m.Heads[0] != 4 || m.KVHeads[0] != 2 || m.FFN[1] != 96 {
		t.Errorf("loaded %s dim %d layers %d vocab %d ctx %d heads %v kv %v ffn %v", m.Arch, m.Dim, m.Layers, m.Vocab, m.CtxLen, m.Heads, m.KVHeads, m.FFN)
	}
	if res.Params != m.Params() || res.Bytes != SizeOf(req.Output) || res.Vocab != 300 {
		t.Errorf("result %+v for a model of %d parameters, %d bytes", res, m.Params(), SizeOf(req.Output))
	}
	const text = "é!"
	if got := m.Tok.Encode(text); len(got) < len([]byte(text)) {
		t.Errorf("byte-level vocabulary encodes %q as %v: fewer tokens than bytes", text, got)
	}

	bad := req
	bad.Output, bad.Spec.Dim = filepath.Join(dir, "bad.gguf"), 66
	var re RequestError
	if _, err := Init(bad); !errors.As(err, &re) || !strings.Contains(err.Error(), "--dim 66") {
		t.Errorf("dim 66 over 4 heads: %v, want a request error naming --dim 66", err)
	}
	if _, err := os.Stat(bad.Output); err == nil {
		t.Errorf("a refused init left %s", bad.Output)
	}
}

// TestCompressCountsWhatItRemoves: compressing away one attention group
// of the stories260K model removes one KV group of heads from its layer
// and nothing else; the result's ratio is that of the two models.
func TestCompressCountsWhatItRemoves(t *testing.T) {
	m, err := model.Load(testshared.Path(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Graph(m, GraphRequest{}.Default())
	if err != nil {
		t.Fatal(err)
	}
	var attn *graph.Group
	for i, gr := range g.Groups {
		if gr.Kind == "attention" && gr.Prunable {
			attn = &g.Groups[i]
			break
		}
	}
	if attn == nil {
		t.Fatalf("no prunable attention group among %v", g.Kinds)
	}
	heads := m.Heads[attn.Layer]
	cm, res, err := Compress(m, CompressRequest{Remove: []int{attn.ID}})
	if err != nil {
		t.Fatal(err)
	}
	perGroup := m.Heads[attn.Layer] / m.KVHeads[attn.Layer]
	if cm.Heads[attn.Layer] != heads-perGroup || cm.KVHeads[attn.Layer] != m.KVHeads[attn.Layer]-1 || cm.Dim != m.Dim {
		t.Errorf("layer %d: heads %d → %d, kv %d → %d, dim %d → %d", attn.Layer, heads, cm.Heads[attn.Layer], m.KVHeads[attn.Layer], cm.KVHeads[attn.Layer], m.Dim, cm.Dim)
	}
	if res.ParamsAfter != cm.Params() || res.RemovedGroups != 1 || res.Ratio != 1-float64(cm.Params())/float64(m.Params()) || res.Ratio <= 0 {
		t.Errorf("result %+v for %d → %d parameters", res, m.Params(), cm.Params())
	}
	if _, _, err := Compress(m, CompressRequest{Remove: []int{1 << 20}}); err == nil {
		t.Error("an unknown group id was accepted")
	}
}

// TestConvertRefusesBeforeWork: a bad output format or dtype is a request
// error, and the input is never the output.
func TestConvertRefusesBeforeWork(t *testing.T) {
	in := testshared.Path(t, "models/stories260K.gguf")
	dir := t.TempDir()
	for _, c := range []struct {
		req  ConvertRequest
		want string
	}{
		{ConvertRequest{Input: in, Output: filepath.Join(dir, "x.txt")}, "cannot tell the output format"},
		{ConvertRequest{Input: in, Output: filepath.Join(dir, "x"), DType: "q8_0"}, "the Hugging Face layout holds f32, f16 or bf16"},
		{ConvertRequest{Input: in, Output: filepath.Join(dir, "x.bin"), DType: "f16"}, "llama2.c checkpoints are float32 only"},
	} {
		_, err := Convert(context.Background(), c.req, func(string, int, int, float64) {})
		var re RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a request error containing %q", c.req, err, c.want)
		}
	}
	if _, err := Quantize(context.Background(), QuantizeRequest{Input: in, Output: in, Type: "q8_0"}, nil); err == nil {
		t.Error("quantize accepted its input as its output")
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("refused requests left %v", ents)
	}
}
