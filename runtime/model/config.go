package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/internal/shape"
)

// Config is the shape of a LLaMA-family model. Per-layer widths allow the
// models that structured pruning produces: every layer may have its own
// query-head count, KV-head count and FFN width (llama.cpp arch "deci").
type Config struct {
	Arch     string // family: "llama", "deci" (llama with per-layer widths), "qwen2", "qwen3"
	Dim      int    // residual width (n_embd)
	Layers   int
	Vocab    int
	CtxLen   int // training context length from the metadata
	HeadDim  int
	Heads    []int // query heads per layer
	KVHeads  []int // key/value heads per layer
	FFN      []int // feed-forward width per layer
	RopeDim  int
	RopeBase float32
	NormEps  float32
	Tied     bool // output projection shares the embedding
	Gated    bool // SwiGLU MLP (gate and up); false: up → SiLU → down
	QKVBias  bool // q, k, v projections carry biases (Qwen2 style)
	QKNorm   bool // per-head RMSNorm on q and k before RoPE (Qwen3 style)
	// OutBias: Wo and Wdown carry output biases (FLAP's bias compensation
	// after pruning, llama.cpp's optional attn_output.bias and ffn_down.bias).
	OutBias bool

	RopeScaling RopeScaling
}

// NeoxRoPE reports whether RoPE rotates the pairs (i, i+ropeDim/2) of each
// head (llama.cpp's NEOX mode, the Qwen families) instead of the adjacent
// pairs (2i, 2i+1) of llama.
func (c *Config) NeoxRoPE() bool { return c.Arch == "qwen2" || c.Arch == "qwen3" }

// Uniform reports whether every layer has the same widths.
func (c *Config) Uniform() bool {
	for l := 1; l < c.Layers; l++ {
		if c.Heads[l] != c.Heads[0] || c.KVHeads[l] != c.KVHeads[0] || c.FFN[l] != c.FFN[0] {
			return false
		}
	}
	return true
}

// Validate checks that the shape is consistent.
func (c *Config) Validate() error {
	if c.Dim <= 0 || c.Layers <= 0 || c.Vocab <= 0 || c.HeadDim <= 0 {
		return fmt.Errorf("model: invalid shape: dim %d, layers %d, vocab %d, head dim %d", c.Dim, c.Layers, c.Vocab, c.HeadDim)
	}
	if len(c.Heads) != c.Layers || len(c.KVHeads) != c.Layers || len(c.FFN) != c.Layers {
		return fmt.Errorf("model: per-layer arrays must have %d entries (heads %d, kv heads %d, ffn %d)", c.Layers, len(c.Heads), len(c.KVHeads), len(c.FFN))
	}
	for l := 0; l < c.Layers; l++ {
		h, kv := c.Heads[l], c.KVHeads[l]
		if h < 0 || kv < 0 || c.FFN[l] < 0 {
			return fmt.Errorf("model: layer %d has negative width", l)
		}
		if (h == 0) != (kv == 0) || (kv > 0 && h%kv != 0) {
			return fmt.Errorf("model: layer %d: %d query heads are not a multiple of %d KV heads", l, h, kv)
		}
	}
	if err := c.checkSizes(); err != nil {
		return err
	}
	if c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return fmt.Errorf("model: rope dimension %d must be even and at most the head dimension %d", c.RopeDim, c.HeadDim)
	}
	if err := c.RopeScaling.Validate(); err != nil {
		return err
	}
	if !(c.NormEps > 0) {
		return fmt.Errorf("model: RMSNorm epsilon %v must be positive", c.NormEps)
	}
	return nil
}

// checkSizes refuses a shape whose weight matrices cannot exist: every
// product of widths that sizes a tensor is overflow-checked, so a
// huge head_dim cannot wrap heads × head_dim to a small number that then
// passes a tensor's shape check.
func (c *Config) checkSizes() error {
	check := func(what string, dims ...int) error {
		if _, err := shape.Product(dims...); err != nil {
			return fmt.Errorf("model: %s is out of range: %v", what, err)
		}
		return nil
	}
	if err := check("the embedding (vocab × dim)", c.Vocab, c.Dim); err != nil {
		return err
	}
	for l := 0; l < c.Layers; l++ {
		if err := check(fmt.Sprintf("layer %d's query projection (heads × head_dim × dim)", l), c.Heads[l], c.HeadDim, c.Dim); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("layer %d's key projection (kv heads × head_dim × dim)", l), c.KVHeads[l], c.HeadDim, c.Dim); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("layer %d's FFN (ffn × dim)", l), c.FFN[l], c.Dim); err != nil {
			return err
		}
	}
	return nil
}

// Archs are the GGUF architectures Shear runs.
var Archs = []string{"llama", "deci", "qwen2", "qwen3"}

// ConfigFromGGUF reads the shape from GGUF metadata (one of Archs). vocab
// is the embedding's row count.
func ConfigFromGGUF(f *gguf.File, vocab int) (Config, error) {
	arch, _ := f.String("general.architecture")
	if !slices.Contains(Archs, arch) {
		return Config{}, fmt.Errorf("model: architecture %q is not supported (Shear runs %s)", arch, strings.Join(Archs, ", "))
	}
	p := arch + "."
	c := Config{Arch: arch, Vocab: vocab, RopeBase: 10000, Gated: true}
	geti := func(key string, required bool) (int, error) {
		v, ok := f.Int(p + key)
		if !ok {
			if required {
				return 0, fmt.Errorf("model: metadata %s%s is missing", p, key)
			}
			return 0, nil
		}
		if v < 0 || v > 1<<30 {
			return 0, fmt.Errorf("model: metadata %s%s = %d is out of range", p, key, v)
		}
		return int(v), nil
	}
	var err error
	if c.Dim, err = geti("embedding_length", true); err != nil {
		return c, err
	}
	if c.Layers, err = geti("block_count", true); err != nil {
		return c, err
	}
	if c.Layers == 0 || c.Layers > 4096 {
		return c, fmt.Errorf("model: block_count %d is out of range", c.Layers)
	}
	if c.CtxLen, err = geti("context_length", false); err != nil {
		return c, err
	}
	if c.Heads, err = perLayer(f, p+"attention.head_count", c.Layers, nil); err != nil {
		return c, err
	}
	if c.KVHeads, err = perLayer(f, p+"attention.head_count_kv", c.Layers, c.Heads); err != nil {
		return c, err
	}
	if c.FFN, err = perLayer(f, p+"feed_forward_length", c.Layers, nil); err != nil {
		return c, err
	}
	if c.HeadDim, err = geti("attention.key_length", false); err != nil {
		return c, err
	}
	if c.HeadDim == 0 {
		for _, h := range c.Heads {
			if h > 0 {
				c.HeadDim = c.Dim / h
				break
			}
		}
	}
	if c.RopeDim, err = geti("rope.dimension_count", false); err != nil {
		return c, err
	}
	if c.RopeDim == 0 {
		c.RopeDim = c.HeadDim
	}
	if v, ok := f.Float(p + "rope.freq_base"); ok {
		c.RopeBase = float32(v)
	}
	if c.RopeScaling, err = ropeScalingFromGGUF(f, p); err != nil {
		return c, err
	}
	eps, ok := f.Float(p + "attention.layer_norm_rms_epsilon")
	if !ok {
		return c, fmt.Errorf("model: metadata %sattention.layer_norm_rms_epsilon is missing", p)
	}
	c.NormEps = float32(eps)
	return c, c.Validate()
}

// perLayer reads a key that is either a scalar (all layers) or an array of
// one value per layer. def is used when the key is absent (nil: required).
func perLayer(f *gguf.File, key string, layers int, def []int) ([]int, error) {
	out := make([]int, layers)
	if arr, ok := f.Ints(key); ok {
		if len(arr) != layers {
			return nil, fmt.Errorf("model: metadata %s has %d entries for %d layers", key, len(arr), layers)
		}
		for i, v := range arr {
			if v < 0 || v > 1<<24 {
				return nil, fmt.Errorf("model: metadata %s[%d] = %d is out of range", key, i, v)
			}
			out[i] = int(v)
		}
		return out, nil
	}
	v, ok := f.Int(key)
	if !ok {
		if def == nil {
			return nil, fmt.Errorf("model: metadata %s is missing", key)
		}
		copy(out, def)
		return out, nil
	}
	if v < 0 || v > 1<<24 {
		return nil, fmt.Errorf("model: metadata %s = %d is out of range", key, v)
	}
	for i := range out {
		out[i] = int(v)
	}
	return out, nil
}

// ropeScalingFromGGUF reads llama.cpp's rope.scaling keys (linear) and
// Shear's keys for Llama-3 scaling; FromGGUF also marks Llama-3 scaling
// when the file has a rope_freqs tensor.
func ropeScalingFromGGUF(f *gguf.File, p string) (RopeScaling, error) {
	var r RopeScaling
	typ, _ := f.String(p + "rope.scaling.type")
	switch typ {
	case "", "none":
	case "linear":
		factor, ok := f.Float(p + "rope.scaling.factor")
		if !ok {
			return r, fmt.Errorf("model: metadata %srope.scaling.type is linear but %srope.scaling.factor is missing", p, p)
		}
		r = RopeScaling{Type: "linear", Factor: float32(factor)}
	default:
		return r, fmt.Errorf("model: metadata %srope.scaling.type %q is not supported (Shear runs none, linear, and llama3 via rope_freqs)", p, typ)
	}
	if t, _ := f.String(ggufScalingPrefix + "type"); t == "llama3" {
		get := func(key string) float32 {
			v, _ := f.Float(ggufScalingPrefix + key)
			return float32(v)
		}
		orig, _ := f.Int(ggufScalingPrefix + "original_context_length")
		if orig < 0 || orig > 1<<30 {
			return r, fmt.Errorf("model: metadata %soriginal_context_length = %d is out of range", ggufScalingPrefix, orig)
		}
		r = RopeScaling{Type: "llama3", Factor: get("factor"), LowFreqFactor: get("low_freq_factor"),
			HighFreqFactor: get("high_freq_factor"), OrigCtx: int(orig)}
	}
	return r, r.Validate()
}
