// Package model is Shear's LLaMA-family transformer: the configuration
// read from GGUF metadata, the weights bound from GGUF tensor names, and
// the forward pass with a KV cache (forward.go).
//
// Goroutines: a Model is read-only while it runs, so any number of
// goroutines may run it at once, each with its own State (the KV cache and
// the buffers of one sequence; a State belongs to one goroutine). What
// changes a Model (Convert, DropAbsent, merging an adapter, full training,
// pruning) must not run while it is in use. TestStatesShareModel checks
// the rule under the race detector (make test-race).
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
	QNorm      []float32      // optional per-head RMSNorm of q and k before RoPE [hd] (Qwen3)
	KNorm      []float32
	Wo         *tensor.Matrix // [dim × heads·hd]
	Bo         []float32      // optional output bias of Wo [dim]
	FFNNorm    []float32
	Wgate      *tensor.Matrix // [ffn × dim], nil when the MLP has no gate
	Wup        *tensor.Matrix // [ffn × dim]
	Wdown      *tensor.Matrix // [dim × ffn]
	Bdown      []float32      // optional output bias of Wdown [dim]
}

// Model is a loaded model: shape, weights and tokenizer.
type Model struct {
	Config
	Embed   *tensor.Matrix // [vocab × dim]
	Blocks  []Layer
	OutNorm []float32
	Output  *tensor.Matrix // [vocab × dim]; == Embed when tied
	// RopeFreqs are the per-pair frequency divisors of Llama-3 rope
	// scaling (llama.cpp's rope_freqs tensor); nil without.
	RopeFreqs []float32
	Tok       *tokenizer.Tokenizer
	// Meta keeps the source file's metadata so writers can carry it over.
	Meta []gguf.KV
	// SourceStorage is the storage type of most of the source file's
	// matrix elements, whatever the model was converted to at load: what
	// a model written from this one keeps (OutputStorage).
	SourceStorage tensor.DType
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
	// KeepFloat stores each float matrix in the file's own float type
	// (F16 stays F16, F32 stays F32; BF16, which has no kernels, becomes
	// F32), whatever DType says: pruning keeps the frozen base as stored.
	KeepFloat bool
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
	emb, ok := f.Tensor(TokenEmbd.Name(-1))
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
	m := &Model{Config: cfg, Tok: tok, Meta: f.KV, SourceStorage: fileStorage(f)}
	// Which optional tensors the file has decides the variant.
	_, hasOutput := f.Tensor(Output.Name(-1))
	m.Tied = !hasOutput
	_, m.QKVBias = f.Tensor(AttnQBias.Name(firstLayer(cfg.Heads)))
	_, m.QKNorm = f.Tensor(AttnQNorm.Name(firstLayer(cfg.Heads)))
	_, attnOutBias := f.Tensor(AttnOutputBias.Name(firstLayer(cfg.Heads)))
	_, ffnDownBias := f.Tensor(FFNDownBias.Name(firstLayer(cfg.FFN)))
	m.OutBias = attnOutBias || ffnDownBias // both or neither: a missing one is reported below
	_, m.Gated = f.Tensor(FFNGate.Name(firstLayer(cfg.FFN)))
	if _, ok := f.Tensor(RopeFreqs.Name(-1)); ok && m.RopeScaling.Type == "" {
		m.RopeScaling.Type = "llama3" // llama.cpp's form: the factors without parameters
	}
	if err := m.Config.Validate(); err != nil {
		return nil, err
	}
	m.Blocks = make([]Layer, cfg.Layers)
	b := binder{f: f, opt: opt}
	for _, r := range m.Tensors() {
		rows, cols := r.Kind.Info().Shape(&m.Config, max(r.Layer, 0))
		if r.Mat != nil {
			*r.Mat = b.matrix(r.Name, rows, cols)
		} else {
			*r.Vec = b.vector(r.Name, rows)
		}
	}
	if m.Tied {
		m.Output = m.Embed
	}
	if b.err != nil {
		return nil, b.err
	}
	return m, nil
}

// firstLayer is the first layer with a nonzero width (0 when none has).
func firstLayer(widths []int) int {
	for l, w := range widths {
		if w > 0 {
			return l
		}
	}
	return 0
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
	if b.opt.KeepFloat {
		switch t.Type {
		case gguf.F16:
			dt = tensor.F16
		case gguf.F32, gguf.BF16:
			dt = tensor.F32
		}
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
	n := 0
	for k := range Kinds {
		if in := &Kinds[k]; in.Block && in.Present(&m.Config, l) {
			rows, cols := in.Shape(&m.Config, l)
			n += rows * max(cols, 1)
		}
	}
	return n
}

// Params counts all parameters (a tied output counts once).
func (m *Model) Params() int {
	n := 0
	for k := range Kinds {
		if in := &Kinds[k]; !in.Block && in.Present(&m.Config, -1) {
			rows, cols := in.Shape(&m.Config, -1)
			n += rows * max(cols, 1)
		}
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
	c.Blocks = slices.Clone(m.Blocks)
	for _, r := range c.Tensors() { // c's refs still point at m's data: replace each by a copy
		if r.Mat != nil {
			*r.Mat = cm(*r.Mat)
		} else {
			*r.Vec = slices.Clone(*r.Vec)
		}
	}
	if m.Tied {
		c.Output = c.Embed
	}
	c.Meta = slices.Clone(m.Meta)
	return &c
}

// StorageTypes lists the storage types of the model's matrices, each once,
// in DType order.
func (m *Model) StorageTypes() []tensor.DType {
	seen := map[tensor.DType]bool{}
	for _, r := range m.Matrices() {
		if *r.Mat != nil {
			seen[(*r.Mat).DType] = true
		}
	}
	var out []tensor.DType
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
