package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/shear-ai/shear/runtime/tensor"
)

// Shapes are the benchmark shapes of docs/REFERENCE.md.
var Shapes = map[string]Config{
	"15M":  UniformConfig(288, 768, 6, 6, 6, 32000, 256),
	"110M": UniformConfig(768, 2048, 12, 12, 12, 32000, 1024),
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
// (normal, std 0.02; norms near 1), stored as dt. It has no tokenizer
// unless the caller sets one.
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
	m := &Model{Config: c, Blocks: make([]Layer, c.Layers)}
	for _, r := range m.Tensors() {
		rows, cols := r.Kind.Info().Shape(&m.Config, max(r.Layer, 0))
		switch {
		case r.Mat != nil:
			*r.Mat = mat(rows, cols)
		case r.Kind == AttnQBias || r.Kind == AttnKBias || r.Kind == AttnVBias:
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
