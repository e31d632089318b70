package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shear-ai/shear/runtime/tensor"
)

// Kind is one kind of tensor of a model; Kinds describes each. Adding a
// tensor kind to Shear means adding one constant and one row of Kinds
// (and the Layer or Model field it lives in): loading, saving, the
// Hugging Face names, LoRA, training and pruning all read this table.
type Kind int

// The kinds in the order files are written.
const (
	TokenEmbd Kind = iota
	OutputNorm
	Output
	RopeFreqs
	AttnNorm
	AttnQ
	AttnK
	AttnV
	AttnQBias
	AttnKBias
	AttnVBias
	AttnQNorm
	AttnKNorm
	AttnOutput
	AttnOutputBias
	FFNNorm
	FFNGate
	FFNUp
	FFNDown
	FFNDownBias
	NumKinds
)

// KindInfo describes one tensor kind.
type KindInfo struct {
	// Base and Suffix form the GGUF name: Base.Suffix outside the blocks,
	// blk.N.Base.Suffix inside ("attn_q", "weight").
	Base, Suffix string
	// HF is the Hugging Face name, after "model.layers.N." inside the
	// blocks; empty for tensors Hugging Face computes from config.json.
	HF string
	// LoRA is the LoRA target name ("q"), PEFT its module path
	// ("self_attn.q_proj"); empty when the kind cannot carry an adapter.
	LoRA, PEFT string
	Block      bool // one per layer
	Matrix     bool // a matrix (else a vector)
	// RopeHeads is the number of RoPE'd heads whose rows Hugging Face
	// stores in rotate-half order for interleaved-RoPE families (q and k
	// of llama); nil for every other kind.
	RopeHeads func(c *Config, l int) int
	// Shape is rows × cols (vectors: n × 0) in a model of shape c, layer l.
	Shape func(c *Config, l int) (rows, cols int)
	// Present reports whether a model of shape c has the tensor in layer l.
	Present func(c *Config, l int) bool

	mat func(m *Model, L *Layer) **tensor.Matrix
	vec func(m *Model, L *Layer) *[]float32
}

// Kinds is the model-description table.
var Kinds = [NumKinds]KindInfo{
	TokenEmbd: {Base: "token_embd", Suffix: "weight", HF: "model.embed_tokens.weight", Matrix: true,
		Shape: vocabByDim, Present: always, mat: func(m *Model, _ *Layer) **tensor.Matrix { return &m.Embed }},
	OutputNorm: {Base: "output_norm", Suffix: "weight", HF: "model.norm.weight",
		Shape: dimVector, Present: always, vec: func(m *Model, _ *Layer) *[]float32 { return &m.OutNorm }},
	Output: {Base: "output", Suffix: "weight", HF: "lm_head.weight", Matrix: true,
		Shape: vocabByDim, Present: func(c *Config, _ int) bool { return !c.Tied },
		mat: func(m *Model, _ *Layer) **tensor.Matrix { return &m.Output }},
	RopeFreqs: {Base: "rope_freqs", Suffix: "weight", // Hugging Face derives it from rope_scaling
		Shape: func(c *Config, _ int) (int, int) { return c.RopeDim / 2, 0 }, Present: func(c *Config, _ int) bool { return c.RopeScaling.Type == "llama3" },
		vec: func(m *Model, _ *Layer) *[]float32 { return &m.RopeFreqs }},

	AttnNorm: {Base: "attn_norm", Suffix: "weight", HF: "input_layernorm.weight", Block: true,
		Shape: dimVector, Present: hasAttention, vec: func(_ *Model, L *Layer) *[]float32 { return &L.AttnNorm }},
	AttnQ: {Base: "attn_q", Suffix: "weight", HF: "self_attn.q_proj.weight", LoRA: "q", PEFT: "self_attn.q_proj",
		Block: true, Matrix: true, RopeHeads: queryHeads, Shape: func(c *Config, l int) (int, int) { return c.Heads[l] * c.HeadDim, c.Dim },
		Present: hasAttention, mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wq }},
	AttnK: {Base: "attn_k", Suffix: "weight", HF: "self_attn.k_proj.weight", LoRA: "k", PEFT: "self_attn.k_proj",
		Block: true, Matrix: true, RopeHeads: kvHeads, Shape: func(c *Config, l int) (int, int) { return c.KVHeads[l] * c.HeadDim, c.Dim },
		Present: hasAttention, mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wk }},
	AttnV: {Base: "attn_v", Suffix: "weight", HF: "self_attn.v_proj.weight", LoRA: "v", PEFT: "self_attn.v_proj",
		Block: true, Matrix: true, Shape: func(c *Config, l int) (int, int) { return c.KVHeads[l] * c.HeadDim, c.Dim },
		Present: hasAttention, mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wv }},
	AttnQBias: {Base: "attn_q", Suffix: "bias", HF: "self_attn.q_proj.bias", Block: true, RopeHeads: queryHeads,
		Shape: func(c *Config, l int) (int, int) { return c.Heads[l] * c.HeadDim, 0 }, Present: hasBias,
		vec: func(_ *Model, L *Layer) *[]float32 { return &L.Bq }},
	AttnKBias: {Base: "attn_k", Suffix: "bias", HF: "self_attn.k_proj.bias", Block: true, RopeHeads: kvHeads,
		Shape: func(c *Config, l int) (int, int) { return c.KVHeads[l] * c.HeadDim, 0 }, Present: hasBias,
		vec: func(_ *Model, L *Layer) *[]float32 { return &L.Bk }},
	AttnVBias: {Base: "attn_v", Suffix: "bias", HF: "self_attn.v_proj.bias", Block: true,
		Shape: func(c *Config, l int) (int, int) { return c.KVHeads[l] * c.HeadDim, 0 }, Present: hasBias,
		vec: func(_ *Model, L *Layer) *[]float32 { return &L.Bv }},
	AttnQNorm: {Base: "attn_q_norm", Suffix: "weight", HF: "self_attn.q_norm.weight", Block: true,
		Shape: headVector, Present: hasQKNorm, vec: func(_ *Model, L *Layer) *[]float32 { return &L.QNorm }},
	AttnKNorm: {Base: "attn_k_norm", Suffix: "weight", HF: "self_attn.k_norm.weight", Block: true,
		Shape: headVector, Present: hasQKNorm, vec: func(_ *Model, L *Layer) *[]float32 { return &L.KNorm }},
	AttnOutput: {Base: "attn_output", Suffix: "weight", HF: "self_attn.o_proj.weight", LoRA: "o", PEFT: "self_attn.o_proj",
		Block: true, Matrix: true, Shape: func(c *Config, l int) (int, int) { return c.Dim, c.Heads[l] * c.HeadDim },
		Present: hasAttention, mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wo }},
	AttnOutputBias: {Base: "attn_output", Suffix: "bias", HF: "self_attn.o_proj.bias", Block: true,
		Shape: dimVector, Present: func(c *Config, l int) bool { return c.Heads[l] > 0 && c.OutBias },
		vec: func(_ *Model, L *Layer) *[]float32 { return &L.Bo }},

	FFNNorm: {Base: "ffn_norm", Suffix: "weight", HF: "post_attention_layernorm.weight", Block: true,
		Shape: dimVector, Present: hasMLP, vec: func(_ *Model, L *Layer) *[]float32 { return &L.FFNNorm }},
	FFNGate: {Base: "ffn_gate", Suffix: "weight", HF: "mlp.gate_proj.weight", LoRA: "gate", PEFT: "mlp.gate_proj",
		Block: true, Matrix: true, Shape: ffnByDim, Present: func(c *Config, l int) bool { return c.FFN[l] > 0 && c.Gated },
		mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wgate }},
	FFNUp: {Base: "ffn_up", Suffix: "weight", HF: "mlp.up_proj.weight", LoRA: "up", PEFT: "mlp.up_proj",
		Block: true, Matrix: true, Shape: ffnByDim, Present: hasMLP,
		mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wup }},
	FFNDown: {Base: "ffn_down", Suffix: "weight", HF: "mlp.down_proj.weight", LoRA: "down", PEFT: "mlp.down_proj",
		Block: true, Matrix: true, Shape: func(c *Config, l int) (int, int) { return c.Dim, c.FFN[l] },
		Present: hasMLP, mat: func(_ *Model, L *Layer) **tensor.Matrix { return &L.Wdown }},
	FFNDownBias: {Base: "ffn_down", Suffix: "bias", HF: "mlp.down_proj.bias", Block: true,
		Shape: dimVector, Present: func(c *Config, l int) bool { return c.FFN[l] > 0 && c.OutBias },
		vec: func(_ *Model, L *Layer) *[]float32 { return &L.Bdown }},
}

func always(*Config, int) bool               { return true }
func hasAttention(c *Config, l int) bool     { return c.Heads[l] > 0 }
func hasBias(c *Config, l int) bool          { return c.Heads[l] > 0 && c.QKVBias }
func hasQKNorm(c *Config, l int) bool        { return c.Heads[l] > 0 && c.QKNorm }
func hasMLP(c *Config, l int) bool           { return c.FFN[l] > 0 }
func vocabByDim(c *Config, _ int) (int, int) { return c.Vocab, c.Dim }
func dimVector(c *Config, _ int) (int, int)  { return c.Dim, 0 }
func headVector(c *Config, _ int) (int, int) { return c.HeadDim, 0 }
func ffnByDim(c *Config, l int) (int, int)   { return c.FFN[l], c.Dim }
func queryHeads(c *Config, l int) int        { return c.Heads[l] }
func kvHeads(c *Config, l int) int           { return c.KVHeads[l] }

// Info returns the kind's row of Kinds.
func (k Kind) Info() *KindInfo { return &Kinds[k] }

// Name is the GGUF name of kind k in layer l (l is ignored outside the blocks).
func (k Kind) Name(l int) string {
	in := &Kinds[k]
	if in.Block {
		return BlockPrefix(l) + in.Base + "." + in.Suffix
	}
	return in.Base + "." + in.Suffix
}

// HFName is the Hugging Face name of kind k in layer l.
func (k Kind) HFName(l int) string {
	in := &Kinds[k]
	if in.Block {
		return "model.layers." + strconv.Itoa(l) + "." + in.HF
	}
	return in.HF
}

// BlockPrefix is "blk.N.", the GGUF prefix of layer l's tensors.
func BlockPrefix(l int) string { return "blk." + strconv.Itoa(l) + "." }

// SplitName is the one parser of GGUF-style tensor names: "blk.3.attn_q.bias"
// gives layer 3, base "attn_q", suffix "bias"; a name outside the blocks
// ("output_norm.weight") gives layer -1. Suffixes other than weight and
// bias (LoRA factors "lora_a", "lora_b") are returned as they are.
func SplitName(name string) (layer int, base, suffix string, err error) {
	layer = -1
	rest := name
	if r, ok := strings.CutPrefix(name, "blk."); ok {
		num, after, ok := strings.Cut(r, ".")
		l, aerr := strconv.Atoi(num)
		if !ok || aerr != nil || l < 0 || num != strconv.Itoa(l) {
			return 0, "", "", fmt.Errorf("model: tensor name %q has no valid layer number", name)
		}
		layer, rest = l, after
	}
	base, suffix, ok := strings.Cut(rest, ".")
	if !ok || base == "" || suffix == "" || strings.Contains(suffix, ".") {
		return 0, "", "", fmt.Errorf("model: tensor name %q is not of the form [blk.N.]name.suffix", name)
	}
	return layer, base, suffix, nil
}

// KindOf finds the kind with the given base and suffix inside (block) or
// outside the blocks.
func KindOf(base, suffix string, block bool) (Kind, bool) {
	for k := range Kinds {
		in := &Kinds[k]
		if in.Base == base && in.Suffix == suffix && in.Block == block {
			return Kind(k), true
		}
	}
	return 0, false
}

// LoRAKinds lists the kinds that can carry a LoRA adapter, in table order.
func LoRAKinds() []Kind {
	var out []Kind
	for k := range Kinds {
		if Kinds[k].LoRA != "" {
			out = append(out, Kind(k))
		}
	}
	return out
}

// TensorRef locates one tensor of a model: exactly one of Mat and Vec is set.
type TensorRef struct {
	Name  string // GGUF name
	Kind  Kind
	Layer int // -1 outside the blocks
	Mat   **tensor.Matrix
	Vec   *[]float32
}

// Tensors lists every tensor a model of this config has, in file order.
// A tied output is the embedding and is not listed a second time.
func (m *Model) Tensors() []TensorRef {
	var out []TensorRef
	add := func(k Kind, l int, L *Layer) {
		in := &Kinds[k]
		if !in.Present(&m.Config, l) {
			return
		}
		r := TensorRef{Name: k.Name(l), Kind: k, Layer: l}
		if in.Matrix {
			r.Mat = in.mat(m, L)
		} else {
			r.Vec = in.vec(m, L)
		}
		out = append(out, r)
	}
	for k := range Kinds {
		if !Kinds[k].Block {
			add(Kind(k), -1, nil)
		}
	}
	for l := range m.Blocks {
		for k := range Kinds {
			if Kinds[k].Block {
				add(Kind(k), l, &m.Blocks[l])
			}
		}
	}
	return out
}

// DropAbsent sets every tensor that the config says the model does not
// have to nil (after pruning left a layer without heads or channels).
func (m *Model) DropAbsent() {
	for l := range m.Blocks {
		for k := range Kinds {
			if in := &Kinds[k]; in.Block && !in.Present(&m.Config, l) {
				if in.Matrix {
					*in.mat(m, &m.Blocks[l]) = nil
				} else {
					*in.vec(m, &m.Blocks[l]) = nil
				}
			}
		}
	}
}

// Matrices lists the model's matrices (Tensors without the vectors): the
// one definition of "every matrix of a model", the tied output counted once.
func (m *Model) Matrices() []TensorRef {
	var out []TensorRef
	for _, r := range m.Tensors() {
		if r.Mat != nil {
			out = append(out, r)
		}
	}
	return out
}

// Tensor finds a tensor by GGUF name. The output of a tied model is not a
// tensor of its own (it is token_embd.weight).
func (m *Model) Tensor(name string) (TensorRef, error) {
	l, base, suffix, err := SplitName(name)
	if err != nil {
		return TensorRef{}, err
	}
	k, ok := KindOf(base, suffix, l >= 0)
	if !ok {
		return TensorRef{}, fmt.Errorf("model: unknown tensor %q", name)
	}
	if l >= len(m.Blocks) {
		return TensorRef{}, fmt.Errorf("model: tensor %q names layer %d of a %d-layer model", name, l, len(m.Blocks))
	}
	in := &Kinds[k]
	if !in.Present(&m.Config, max(l, 0)) {
		return TensorRef{}, fmt.Errorf("model: this model has no tensor %q", name)
	}
	r := TensorRef{Name: name, Kind: k, Layer: l}
	var L *Layer
	if l >= 0 {
		L = &m.Blocks[l]
	}
	if in.Matrix {
		r.Mat = in.mat(m, L)
	} else {
		r.Vec = in.vec(m, L)
	}
	return r, nil
}

// LayerMatrix returns layer L's matrix of block kind k (nil when absent
// or when k is not a block matrix).
func LayerMatrix(L *Layer, k Kind) *tensor.Matrix {
	if in := &Kinds[k]; in.Block && in.Matrix {
		return *in.mat(nil, L)
	}
	return nil
}

// SetLayerMatrix replaces layer L's matrix of block kind k.
func SetLayerMatrix(L *Layer, k Kind, w *tensor.Matrix) {
	*Kinds[k].mat(nil, L) = w
}

// HFPermutedHeads is the number of heads whose rows Hugging Face stores in
// rotate-half order for kind k in layer l: q and k (weights and biases) of
// families whose GGUF uses interleaved RoPE pairs (llama), which llama.cpp's
// converter permutes. It is 0 for every other kind, and for families whose
// GGUF keeps Hugging Face's order and rotates halves (NeoX RoPE: Qwen).
func (c *Config) HFPermutedHeads(k Kind, l int) int {
	if in := &Kinds[k]; in.RopeHeads != nil && !c.NeoxRoPE() {
		return in.RopeHeads(c, l)
	}
	return 0
}
