// Package model is Shear's LLaMA-family transformer: the configuration
// read from GGUF metadata, the weights bound from GGUF tensor names, and
// the forward pass with a KV cache (forward.go).
package model

import (
	"fmt"
	"slices"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// Layer holds one transformer block's weights. Optional parts are nil.
type Layer struct {
	AttnNorm   []float32
	Wq, Wk, Wv *tensor.Matrix // [heads·hd × dim], [kv·hd × dim], [kv·hd × dim]
	Bq, Bk, Bv []float32      // optional biases
	Wo         *tensor.Matrix // [dim × heads·hd]
	FFNNorm    []float32
	Wgate      *tensor.Matrix // [ffn × dim], nil when the MLP has no gate
	Wup        *tensor.Matrix // [ffn × dim]
	Wdown      *tensor.Matrix // [dim × ffn]
}

// Model is a loaded model: shape, weights and tokenizer.
type Model struct {
	Config
	Embed   *tensor.Matrix // [vocab × dim]
	Blocks  []Layer
	OutNorm []float32
	Output  *tensor.Matrix // [vocab × dim]; == Embed when tied
	Tok     *tokenizer.Tokenizer
	// Meta keeps the source file's metadata so writers can carry it over.
	Meta []gguf.KV
}

// LoadOptions control how weights are stored in memory.
type LoadOptions struct {
	// DType is the storage of the matrices. Quantized GGUF tensors stay
	// quantized when DType matches their type; otherwise they are converted.
	DType tensor.DType
	// KeepQuantized keeps every matrix the file stores quantized in the
	// file's type, whatever DType says; DType then applies to the float
	// (F32, F16, BF16) tensors only.
	KeepQuantized bool
}

// DefaultLoadOptions is what a user gets without asking for a type: a
// quantized file stays quantized (Q8_0 stays Q8_0), float tensors are
// stored as F16.
func DefaultLoadOptions() LoadOptions {
	return LoadOptions{DType: tensor.F16, KeepQuantized: true}
}

// Load reads a GGUF model from path.
func Load(path string, opt LoadOptions) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := FromGGUF(f, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FromGGUF binds a parsed GGUF file's tensors into a model.
func FromGGUF(f *gguf.File, opt LoadOptions) (*Model, error) {
	emb, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("model: tensor token_embd.weight is missing")
	}
	if len(emb.Dims) != 2 {
		return nil, fmt.Errorf("model: token_embd.weight has shape %v, want 2 dimensions", emb.Dims)
	}
	cfg, err := ConfigFromGGUF(f, int(emb.Dims[1]))
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	if tok.Size() != cfg.Vocab {
		return nil, fmt.Errorf("model: tokenizer has %d tokens but token_embd.weight has %d rows", tok.Size(), cfg.Vocab)
	}
	b := binder{f: f, opt: opt}
	m := &Model{Config: cfg, Tok: tok, Meta: f.KV}
	d, hd := cfg.Dim, cfg.HeadDim
	m.Embed = b.matrix("token_embd.weight", cfg.Vocab, d)
	m.OutNorm = b.vector("output_norm.weight", d)
	if _, ok := f.Tensor("output.weight"); ok {
		m.Output = b.matrix("output.weight", cfg.Vocab, d)
	} else {
		m.Tied, m.Output = true, m.Embed
	}
	_, m.Config.QKVBias = f.Tensor("blk.0.attn_q.bias")
	for l, ff := range cfg.FFN {
		if ff > 0 {
			_, m.Config.Gated = f.Tensor(fmt.Sprintf("blk.%d.ffn_gate.weight", l))
			break
		}
	}
	m.Blocks = make([]Layer, cfg.Layers)
	for l := range m.Blocks {
		L := &m.Blocks[l]
		p := fmt.Sprintf("blk.%d.", l)
		qd, kvd, ff := cfg.Heads[l]*hd, cfg.KVHeads[l]*hd, cfg.FFN[l]
		if cfg.Heads[l] > 0 {
			L.AttnNorm = b.vector(p+"attn_norm.weight", d)
			L.Wq = b.matrix(p+"attn_q.weight", qd, d)
			L.Wk = b.matrix(p+"attn_k.weight", kvd, d)
			L.Wv = b.matrix(p+"attn_v.weight", kvd, d)
			L.Wo = b.matrix(p+"attn_output.weight", d, qd)
			if m.QKVBias {
				L.Bq = b.vector(p+"attn_q.bias", qd)
				L.Bk = b.vector(p+"attn_k.bias", kvd)
				L.Bv = b.vector(p+"attn_v.bias", kvd)
			}
		}
		if ff > 0 {
			L.FFNNorm = b.vector(p+"ffn_norm.weight", d)
			if m.Gated {
				L.Wgate = b.matrix(p+"ffn_gate.weight", ff, d)
			}
			L.Wup = b.matrix(p+"ffn_up.weight", ff, d)
			L.Wdown = b.matrix(p+"ffn_down.weight", d, ff)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	return m, nil
}

// binder loads tensors by name and checks their shapes; the first error sticks.
type binder struct {
	f   *gguf.File
	opt LoadOptions
	err error
}

func (b *binder) info(name string, dims ...uint64) *gguf.TensorInfo {
	if b.err != nil {
		return nil
	}
	t, ok := b.f.Tensor(name)
	if !ok {
		b.err = fmt.Errorf("model: tensor %s is missing", name)
		return nil
	}
	if !slices.Equal(t.Dims, dims) {
		b.err = fmt.Errorf("model: tensor %s has shape %v, the config needs %v", name, t.Dims, dims)
		return nil
	}
	return t
}

func (b *binder) matrix(name string, rows, cols int) *tensor.Matrix {
	t := b.info(name, uint64(cols), uint64(rows))
	if t == nil {
		return nil
	}
	dt := b.opt.DType
	if keep, ok := tensor.DTypeOfGGUF(t.Type); ok && keep.Quantized() && b.opt.KeepQuantized {
		dt = keep
	}
	m, err := tensor.FromGGUF(b.f, t, dt)
	if err != nil {
		b.err = err
	}
	return m
}

func (b *binder) vector(name string, n int) []float32 {
	t := b.info(name, uint64(n))
	if t == nil {
		return nil
	}
	v, err := tensor.DecodeFloat32(b.f, t)
	if err != nil {
		b.err = err
	}
	return v
}

// LayerParams counts the parameters of layer l.
func (m *Model) LayerParams(l int) int {
	c, d := &m.Config, m.Dim
	qd, kvd, ff := c.Heads[l]*c.HeadDim, c.KVHeads[l]*c.HeadDim, c.FFN[l]
	n := 0
	if c.Heads[l] > 0 {
		n += d + 2*qd*d + 2*kvd*d
		if c.QKVBias {
			n += qd + 2*kvd
		}
	}
	if ff > 0 {
		mats := 2
		if c.Gated {
			mats = 3
		}
		n += d + mats*ff*d
	}
	return n
}

// Params counts all parameters (a tied output counts once).
func (m *Model) Params() int {
	n := m.Vocab*m.Dim + m.Dim
	if !m.Tied {
		n += m.Vocab * m.Dim
	}
	for l := range m.Blocks {
		n += m.LayerParams(l)
	}
	return n
}

// Clone returns a deep copy of the model (the tokenizer is shared: it is
// read-only).
func (m *Model) Clone() *Model {
	c := *m
	c.Config.Heads = slices.Clone(m.Heads)
	c.Config.KVHeads = slices.Clone(m.KVHeads)
	c.Config.FFN = slices.Clone(m.FFN)
	cm := func(w *tensor.Matrix) *tensor.Matrix {
		if w == nil {
			return nil
		}
		n := *w
		n.F32, n.F16, n.Q = slices.Clone(w.F32), slices.Clone(w.F16), slices.Clone(w.Q)
		return &n
	}
	c.Embed = cm(m.Embed)
	c.Output = c.Embed
	if !m.Tied {
		c.Output = cm(m.Output)
	}
	c.OutNorm = slices.Clone(m.OutNorm)
	c.Blocks = make([]Layer, len(m.Blocks))
	for l, L := range m.Blocks {
		c.Blocks[l] = Layer{
			AttnNorm: slices.Clone(L.AttnNorm), FFNNorm: slices.Clone(L.FFNNorm),
			Wq: cm(L.Wq), Wk: cm(L.Wk), Wv: cm(L.Wv), Wo: cm(L.Wo),
			Bq: slices.Clone(L.Bq), Bk: slices.Clone(L.Bk), Bv: slices.Clone(L.Bv),
			Wgate: cm(L.Wgate), Wup: cm(L.Wup), Wdown: cm(L.Wdown),
		}
	}
	c.Meta = slices.Clone(m.Meta)
	return &c
}

// StorageTypes lists the storage types of the model's matrices, each once,
// in DType order.
func (m *Model) StorageTypes() []tensor.DType {
	seen := map[tensor.DType]bool{m.Embed.DType: true, m.Output.DType: true}
	for _, L := range m.Blocks {
		for _, w := range []*tensor.Matrix{L.Wq, L.Wk, L.Wv, L.Wo, L.Wgate, L.Wup, L.Wdown} {
			if w != nil {
				seen[w.DType] = true
			}
		}
	}
	var out []tensor.DType
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Convert changes the storage type of every matrix in place (a tied
// output follows the embedding).
func (m *Model) Convert(dt tensor.DType) error {
	conv := func(w **tensor.Matrix) error {
		if *w == nil {
			return nil
		}
		nw, err := (*w).Convert(dt)
		*w = nw
		return err
	}
	if err := conv(&m.Embed); err != nil {
		return err
	}
	if m.Tied {
		m.Output = m.Embed
	} else if err := conv(&m.Output); err != nil {
		return err
	}
	for l := range m.Blocks {
		L := &m.Blocks[l]
		for _, w := range []**tensor.Matrix{&L.Wq, &L.Wk, &L.Wv, &L.Wo, &L.Wgate, &L.Wup, &L.Wdown} {
			if err := conv(w); err != nil {
				return err
			}
		}
	}
	return nil
}
