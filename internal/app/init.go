package app

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// InitRequest is `shear init`: a GGUF model of shape Spec with random
// weights (normal, std 0.02; norms near 1), written to Output. The
// vocabulary is VocabFrom's (a GGUF file, whose tokenizer metadata is
// carried over, or a Hugging Face tokenizer.json directory); Spec.Vocab
// then pads it (a directory, as transformers pads the embedding) or must
// equal it (a GGUF file), and 0 takes its size. Without VocabFrom the
// model gets the byte-level vocabulary ByteVocab(Spec.Vocab).
type InitRequest struct {
	Spec      model.FamilySpec `json:"spec"`
	VocabFrom string           `json:"vocab_from,omitempty"`
	DType     string           `json:"dtype"` // f32, f16, q8_0 or q4_0
	Seed      uint64           `json:"seed"`
	Output    string           `json:"output"`
}

// Default is `shear init`'s request without a shape or output: a llama
// of context 256 with the 259-token byte-level vocabulary, f16, seed 1.
func (InitRequest) Default() InitRequest {
	return InitRequest{Spec: model.FamilySpec{Arch: "llama", Vocab: 259, Ctx: 256}, DType: "f16", Seed: 1}
}

// InitResult is what `shear init` reports.
type InitResult struct {
	Output      string  `json:"output"`
	Arch        string  `json:"arch"`
	Params      int     `json:"params"`
	Bytes       int64   `json:"bytes"`
	Dim         int     `json:"dim"`
	Hidden      int     `json:"hidden"`
	Layers      int     `json:"layers"`
	Heads       int     `json:"heads"`
	KVHeads     int     `json:"kv_heads"`
	HeadDim     int     `json:"head_dim"`
	Vocab       int     `json:"vocab"`
	Ctx         int     `json:"ctx"`
	RopeBase    float32 `json:"rope_base"`
	RopeScaling string  `json:"rope_scaling"`
	Tied        bool    `json:"tied"`
	Tokenizer   string  `json:"tokenizer"`
	VocabSource string  `json:"vocab_source"` // "byte-level" or VocabFrom
	DType       string  `json:"dtype"`
	Seed        uint64  `json:"seed"`
}

// Init runs req.
func Init(req InitRequest) (InitResult, error) {
	res := InitResult{Output: req.Output, Seed: req.Seed, VocabSource: "byte-level"}
	if err := CheckOutput(req.Output, req.VocabFrom); err != nil {
		return res, err
	}
	dt, err := tensor.ParseDType(req.DType)
	if err != nil {
		return res, badRequest("--dtype: %v", err)
	}
	s := req.Spec
	if s.Layers <= 0 || s.Layers > 4096 || s.Heads <= 0 || s.KVHeads <= 0 || s.Dim <= 0 || s.FFN <= 0 || s.Ctx <= 0 {
		return res, badRequest("dim, hidden, layers (at most 4096), heads, kv-heads and ctx must be positive")
	}
	if s.HeadDim == 0 && s.Dim%s.Heads != 0 {
		return res, badRequest("--dim %d is not a multiple of --heads %d (or pass --head-dim)", s.Dim, s.Heads)
	}
	var v tokenizer.Vocab
	var meta []gguf.KV
	if req.VocabFrom != "" {
		if v, meta, err = initVocab(req.VocabFrom, s.Vocab); err != nil {
			return res, err
		}
		s.Vocab, res.VocabSource = len(v.Tokens), req.VocabFrom
	} else if v, err = ByteVocab(s.Vocab); err != nil {
		return res, err
	}
	nc, err := model.FamilyConfig(s)
	if err != nil {
		return res, err
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		return res, err
	}
	m, err := model.NewRandom(nc, dt, req.Seed)
	if err != nil {
		return res, err
	}
	m.Tok, m.Meta = tok, meta
	m.Meta = append(m.Meta, gguf.KV{Key: "general.name", Type: gguf.TypeString, Value: "shear-random"})
	if err := m.Save(req.Output); err != nil {
		return res, err
	}
	res.Arch, res.Params, res.Bytes, res.Dim, res.Hidden, res.Layers = nc.Arch, m.Params(), SizeOf(req.Output), nc.Dim, nc.FFN[0], nc.Layers
	res.Heads, res.KVHeads, res.HeadDim, res.Vocab, res.Ctx = nc.Heads[0], nc.KVHeads[0], nc.HeadDim, nc.Vocab, nc.CtxLen
	res.RopeBase, res.RopeScaling, res.Tied, res.Tokenizer, res.DType = nc.RopeBase, nc.RopeScaling.Type, nc.Tied, tok.Model(), dt.String()
	return res, nil
}

// ByteVocab is the vocabulary init uses without a VocabFrom: <unk>, <s>,
// </s> and the 256 byte tokens (llama2.c's 259-token byte-level layout),
// padded with unused tokens up to n.
func ByteVocab(n int) (tokenizer.Vocab, error) {
	const base = 3 + 256
	if n < base {
		return tokenizer.Vocab{}, badRequest("--vocab %d: the byte-level vocabulary needs at least %d tokens (or pass --vocab-from)", n, base)
	}
	v := tokenizer.Vocab{BOS: 1, EOS: 2, UNK: 0, AddSpacePrefix: true, AddBOS: true}
	add := func(text string, typ int32) {
		v.Tokens = append(v.Tokens, text)
		v.Scores = append(v.Scores, 0)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", tokenizer.TypeUnknown)
	add("<s>", tokenizer.TypeControl)
	add("</s>", tokenizer.TypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), tokenizer.TypeByte)
	}
	for i := base; i < n; i++ {
		add(fmt.Sprintf("<unused%d>", i-base), tokenizer.TypeUnused)
	}
	return v, nil
}

// initVocab reads a VocabFrom: a GGUF file (its tokenizer metadata is
// carried over as it is; vocab, when not 0, must be its size) or a
// Hugging Face tokenizer.json directory (padded to vocab when that is
// not 0).
func initVocab(path string, vocab int) (tokenizer.Vocab, []gguf.KV, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		v, err := tokenizer.FromHFDir(path, vocab)
		return v, nil, err
	}
	v, err := tokenizer.LoadVocab(path)
	if err != nil {
		return v, nil, err
	}
	if vocab != 0 && vocab != len(v.Tokens) {
		return v, nil, badRequest("--vocab %d differs from the %d tokens of %s", vocab, len(v.Tokens), path)
	}
	var meta []gguf.KV
	if f, err := gguf.Open(path); err == nil {
		meta = tokenizerMeta(f)
	}
	return v, meta, nil
}

// ShapeNames lists model.Shapes for help texts and errors.
func ShapeNames() string {
	names := make([]string, 0, len(model.Shapes))
	for n := range model.Shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
