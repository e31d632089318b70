package model

import (
	"fmt"
	"math"

	"github.com/shear-ai/shear/simd"
)

// RopeScaling is the context extension of RoPE's frequencies, as
// transformers' rope_scaling describes it.
type RopeScaling struct {
	Type   string  `json:"type,omitempty"`   // "" (none), "linear" or "llama3"
	Factor float32 `json:"factor,omitempty"` // linear: positions are divided by it; llama3: the low-frequency divisor
	// Llama-3 only: the wavelength band between OrigCtx/HighFreqFactor and
	// OrigCtx/LowFreqFactor is interpolated smoothly.
	LowFreqFactor  float32 `json:"low_freq_factor,omitempty"`
	HighFreqFactor float32 `json:"high_freq_factor,omitempty"`
	OrigCtx        int     `json:"original_context,omitempty"` // original_max_position_embeddings
}

// Validate checks the parameters of the scaling type.
func (r *RopeScaling) Validate() error {
	switch r.Type {
	case "":
		return nil
	case "linear":
		if !(r.Factor > 0) || math.IsInf(float64(r.Factor), 0) {
			return fmt.Errorf("model: linear rope scaling factor %v must be positive", r.Factor)
		}
		return nil
	case "llama3":
		if *r == (RopeScaling{Type: "llama3"}) {
			return nil // a GGUF's rope_freqs tensor without Shear's parameter keys: the factors are all there is
		}
		if !(r.Factor > 0) || !(r.LowFreqFactor > 0) || !(r.HighFreqFactor > r.LowFreqFactor) || r.OrigCtx <= 0 ||
			math.IsInf(float64(r.Factor), 0) || math.IsInf(float64(r.HighFreqFactor), 0) {
			return fmt.Errorf("model: llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original context > 0 (have %v, %v, %v, %d)",
				r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OrigCtx)
		}
		return nil
	}
	return fmt.Errorf("model: rope scaling type %q is not supported (Shear runs linear and llama3)", r.Type)
}

// ggufScalingPrefix starts the metadata keys that keep Llama-3 scaling's
// parameters in a GGUF. llama.cpp reads that scaling from the rope_freqs
// tensor alone (its converter writes no keys for it, and it refuses a
// rope.scaling.type it does not know), so the parameters, which a
// Hugging Face export needs, get keys of Shear's own.
const ggufScalingPrefix = "shear.rope_scaling."

// freqScale is llama.cpp's rope_freq_scale: 1/factor for linear scaling.
func (r *RopeScaling) freqScale() float32 {
	if r.Type == "linear" {
		return 1 / r.Factor
	}
	return 1
}

// Llama3RopeFactors are the per-pair frequency divisors of Llama-3
// scaling, computed as llama.cpp's converter writes them into the
// rope_freqs tensor (LlamaModel.generate_extra_tensors, after
// transformers' _compute_llama3_parameters): 1 for short wavelengths,
// factor for long ones, a smooth blend between.
func (c *Config) Llama3RopeFactors() []float32 {
	r := &c.RopeScaling
	dim := c.RopeDim
	lowWavelen := float64(r.OrigCtx) / float64(r.LowFreqFactor)
	highWavelen := float64(r.OrigCtx) / float64(r.HighFreqFactor)
	out := make([]float32, dim/2)
	for i := range out {
		freq := float64(float32(1 / math.Pow(float64(c.RopeBase), float64(float32(2*i)/float32(dim)))))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = r.Factor
		default:
			smooth := (float64(r.OrigCtx)/wavelen - float64(r.LowFreqFactor)) / float64(r.HighFreqFactor-r.LowFreqFactor)
			out[i] = float32(1 / ((1-smooth)/float64(r.Factor) + smooth))
		}
	}
	return out
}

// RopeTable returns RoPE's cosines and sines for positions 0…ctx-1, each
// position's ropeDim/2 values in a row. Training and inference both use it.
func (m *Model) RopeTable(ctx int) (cos, sin []float32) {
	c := &m.Config
	half := c.RopeDim / 2
	cos, sin = make([]float32, ctx*half), make([]float32, ctx*half)
	fs := c.RopeScaling.freqScale()
	for p := 0; p < ctx; p++ {
		simd.RoPEFreqsScaled(cos[p*half:(p+1)*half], sin[p*half:(p+1)*half], p, c.RopeDim, c.RopeBase, fs, m.RopeFreqs)
	}
	return cos, sin
}

// Rope rotates the heads of one row of q or k by one position's cos and
// sin, in the family's pairing.
func (c *Config) Rope(row []float32, heads int, cos, sin []float32) {
	if c.NeoxRoPE() {
		simd.RoPENeox(row, heads, c.HeadDim, c.RopeDim, cos, sin)
	} else {
		simd.RoPE(row, heads, c.HeadDim, c.RopeDim, cos, sin)
	}
}

// RopeBack is Rope's backward pass (the inverse rotation).
func (c *Config) RopeBack(row []float32, heads int, cos, sin []float32) {
	if c.NeoxRoPE() {
		simd.RoPENeoxBack(row, heads, c.HeadDim, c.RopeDim, cos, sin)
	} else {
		simd.RoPEBack(row, heads, c.HeadDim, c.RopeDim, cos, sin)
	}
}

// RMSNormRows normalises each len(w)-wide row of x into out with weight w
// (simd.RMSNorm); inv, when not nil, receives each row's scale for the
// backward pass. The model's norms and Qwen3's per-head q/k norms (rows of
// one head) both run through it, in training and inference.
func RMSNormRows(out, x, w []float32, eps float32, inv []float32) {
	d := len(w)
	for i := 0; i < len(x)/d; i++ {
		s := simd.RMSNorm(out[i*d:(i+1)*d], x[i*d:(i+1)*d], w, eps)
		if inv != nil {
			inv[i] = s
		}
	}
}

// PermuteRopeRows reorders the rows of a q or k projection (or its bias:
// rows of one element) between the rotate-half layout — Hugging Face's,
// and NeoX RoPE's — and adjacent pairs, head by head (llama.cpp's
// LlamaModel.permute: reshape(heads, 2, hd/2, …).swapaxes(1, 2)). Pair
// row h·hd + 2i + j holds rotate-half row h·hd + j·hd/2 + i; toPairs picks
// the direction. Rotating adjacent pairs of the permuted rows computes
// what rotating halves of the original rows does.
func PermuteRopeRows(data []byte, heads, hd, rowBytes int, toPairs bool) []byte {
	out := make([]byte, len(data))
	half := hd / 2
	for h := range heads {
		for i := range half {
			for j := range 2 {
				g, f := h*hd+2*i+j, h*hd+j*half+i
				src, dst := f, g
				if !toPairs {
					src, dst = g, f
				}
				copy(out[dst*rowBytes:(dst+1)*rowBytes], data[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	return out
}
