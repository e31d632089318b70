package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/shear-ai/shear/runtime/tensor"
)

// Shapes are the benchmark shapes (15M, 110M, 1.1B: the llama2.c and
// TinyLlama shapes) and the shapes of the model families Shear runs, for
// random-weight models (shear init, shear bench, the benchmarks).
var Shapes = map[string]Config{
	"15M":          UniformConfig(288, 768, 6, 6, 6, 32000, 256),
	"110M":         UniformConfig(768, 2048, 12, 12, 12, 32000, 1024),
	"1.1B":         UniformConfig(2048, 5632, 22, 32, 4, 32000, 2048),
	"SmolLM2-135M": mustFamily(FamilySpec{Arch: "llama", Dim: 576, FFN: 1536, Layers: 30, Heads: 9, KVHeads: 3, Vocab: 49152, Ctx: 8192, RopeBase: 100000, Tied: true}),
	"Qwen2.5-0.5B": mustFamily(FamilySpec{Arch: "qwen2", Dim: 896, FFN: 4864, Layers: 24, Heads: 14, KVHeads: 2, Vocab: 151936, Ctx: 32768, Tied: true}),
	"Qwen3-0.6B":   mustFamily(FamilySpec{Arch: "qwen3", Dim: 1024, FFN: 3072, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128, Vocab: 151936, Ctx: 40960, Tied: true}),
	"Llama-3.2-1B": mustFamily(FamilySpec{Arch: "llama", Dim: 2048, FFN: 8192, Layers: 16, Heads: 32, KVHeads: 8, Vocab: 128256, Ctx: 131072, RopeBase: 500000, Tied: true,
		RopeScaling: RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 8192}}),
}

// FamilySpec describes a model of one family for FamilyConfig. Zero
// fields take the family's defaults.
type FamilySpec struct {
	// Arch is the family: "llama" (Llama, Mistral, SmolLM2, TinyLlama),
	// "qwen2" (q/k/v biases, NeoX RoPE) or "qwen3" (per-head q/k norms,
	// NeoX RoPE).
	Arch        string      `json:"arch"`
	Dim         int         `json:"dim"`
	FFN         int         `json:"ffn"`
	Layers      int         `json:"layers"`
	Heads       int         `json:"heads"`
	KVHeads     int         `json:"kv_heads"`
	Vocab       int         `json:"vocab"`
	Ctx         int         `json:"ctx"`
	HeadDim     int         `json:"head_dim,omitempty"`  // default Dim/Heads
	RopeBase    float32     `json:"rope_base,omitempty"` // default 10000 (llama), 1000000 (qwen)
	NormEps     float32     `json:"norm_eps,omitempty"`  // default 1e-5 (llama), 1e-6 (qwen)
	Tied        bool        `json:"tied,omitempty"`
	RopeScaling RopeScaling `json:"rope_scaling"`
}

// FamilyConfig returns the uniform config of a model of family s.Arch:
// the library form of shear init --arch.
func FamilyConfig(s FamilySpec) (Config, error) {
	if s.Heads <= 0 {
		return Config{}, fmt.Errorf("model: %d heads: need at least one", s.Heads)
	}
	c := UniformConfig(s.Dim, s.FFN, s.Layers, s.Heads, s.KVHeads, s.Vocab, s.Ctx)
	c.Arch, c.Tied, c.RopeScaling = s.Arch, s.Tied, s.RopeScaling
	switch s.Arch {
	case "llama":
	case "qwen2":
		c.QKVBias, c.RopeBase, c.NormEps = true, 1000000, 1e-6
	case "qwen3":
		c.QKNorm, c.RopeBase, c.NormEps = true, 1000000, 1e-6
	default:
		return Config{}, fmt.Errorf("model: family %q is not one of llama, qwen2, qwen3", s.Arch)
	}
	if s.HeadDim > 0 {
		c.HeadDim = s.HeadDim
	}
	c.RopeDim = c.HeadDim
	if s.RopeBase > 0 {
		c.RopeBase = s.RopeBase
	}
	if s.NormEps > 0 {
		c.NormEps = s.NormEps
	}
	return c, c.Validate()
}

func mustFamily(s FamilySpec) Config {
	c, err := FamilyConfig(s)
	if err != nil {
		panic(err)
	}
	return c
}

// UniformConfig returns a llama config with the same widths in every layer.
func UniformConfig(dim, ffn, layers, heads, kvHeads, vocab, ctx int) Config {
	c := Config{Arch: "llama", Dim: dim, Layers: layers, Vocab: vocab, CtxLen: ctx, HeadDim: dim / heads,
		RopeBase: 10000, NormEps: 1e-5, Gated: true}
	c.RopeDim = c.HeadDim
	for l := 0; l < layers; l++ {
		c.Heads = append(c.Heads, heads)
		c.KVHeads = append(c.KVHeads, kvHeads)
		c.FFN = append(c.FFN, ffn)
	}
	return c
}

// NewRandom builds a model of the given shape with random weights
// (normal, std 0.02; norms near 1), stored as dt; c's family flags decide
// the optional tensors (biases, q/k norms, tied output, Llama-3 rope
// factors). It has no tokenizer unless the caller sets one.
func NewRandom(c Config, dt tensor.DType, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var err error
	mat := func(rows, cols int) *tensor.Matrix {
		data := make([]float32, rows*cols)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.02)
		}
		m, e := tensor.New(rows, cols, data, dt)
		if e != nil && err == nil {
			err = e
		}
		return m
	}
	vec := func(n int, bias bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			if bias {
				v[i] = float32(rng.NormFloat64() * 0.02)
			} else {
				v[i] = float32(1 + rng.NormFloat64()*0.1)
			}
		}
		return v
	}
	m := &Model{Config: c, Blocks: make([]Layer, c.Layers), SourceStorage: dt}
	for _, r := range m.Tensors() {
		rows, cols := r.Kind.Info().Shape(&m.Config, max(r.Layer, 0))
		switch {
		case r.Mat != nil:
			*r.Mat = mat(rows, cols)
		case r.Kind == RopeFreqs:
			*r.Vec = c.Llama3RopeFactors()
		case r.Kind == AttnQBias || r.Kind == AttnKBias || r.Kind == AttnVBias || r.Kind == AttnOutputBias || r.Kind == FFNDownBias:
			*r.Vec = vec(rows, true)
		default:
			*r.Vec = vec(rows, false)
		}
	}
	if c.Tied {
		m.Output = m.Embed
	}
	if err != nil {
		return nil, fmt.Errorf("model: random weights: %w", err)
	}
	return m, nil
}
