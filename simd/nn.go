package simd

import (
	"fmt"
	"math"
)

// The transformer's element-wise and normalisation ops, computed in the
// order llama.cpp's CPU backend uses so that results match it closely.

// RMSNorm computes out = x * scale * weight with
// scale = 1/sqrt(mean(x²)+eps), in llama.cpp's order: x² summed in float64,
// the mean and scale rounded to float32, then out[i] = (x[i]*scale)*weight[i].
// All lengths must match; out may be x. It returns scale, which the
// backward pass of training needs.
func RMSNorm(out, x, weight []float32, eps float32) (scale float32) {
	checkLen3("RMSNorm", len(x), len(out), len(weight))
	if len(x) == 0 {
		return 0
	}
	mean := float32(sumSquares(x) / float64(len(x)))
	scale = 1 / float32(math.Sqrt(float64(mean+eps)))
	normScale(out, x, weight, scale)
	return scale
}

// Softmax replaces x by softmax(x) in place: e^(x[i]-max), scaled by the
// float32 reciprocal of their sum accumulated in float64 (llama.cpp's
// order). On amd64 e^x is a vectorised polynomial accurate to about 1 ulp.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	s := expSub(x, maxOf(x))
	scale(float32(1/s), x)
}

// SiLU replaces x[i] by x[i]*sigmoid(x[i]) = x[i]/(1+e^-x[i]) in place.
func SiLU(x []float32) {
	siluVec(x, x)
}

// SwiGLU computes dst = silu(gate) * up elementwise. All lengths must
// match; dst may be gate or up.
func SwiGLU(dst, gate, up []float32) {
	checkLen3("SwiGLU", len(gate), len(up), len(dst))
	swigluVec(dst, gate, up)
}

// RoPEFreqs fills cos[i], sin[i] for i < ropeDim/2 with the rotation of
// position pos: theta_i = pos*base^(-2i/ropeDim), computed as llama.cpp does
// in float32 (theta_scale = powf(base, -2/ropeDim), theta starts at pos and
// is multiplied by theta_scale after each pair).
func RoPEFreqs(cos, sin []float32, pos, ropeDim int, base float32) {
	RoPEFreqsScaled(cos, sin, pos, ropeDim, base, 1, nil)
}

// RoPEFreqsScaled is RoPEFreqs with llama.cpp's scaling: the angle of pair
// i is freqScale·theta_i/factors[i] (ggml_rope_cache_init without YaRN;
// freqScale is 1/factor of linear scaling, factors the rope_freqs tensor of
// Llama-3 scaling, nil for none).
func RoPEFreqsScaled(cos, sin []float32, pos, ropeDim int, base, freqScale float32, factors []float32) {
	half := ropeDim / 2
	checkMat("RoPEFreqs", "cos", len(cos), half)
	checkMat("RoPEFreqs", "sin", len(sin), half)
	if factors != nil {
		checkMat("RoPEFreqs", "factors", len(factors), half)
	}
	thetaScale := float32(Pow64(float64(base), float64(float32(-2)/float32(ropeDim))))
	theta := float32(pos)
	for i := 0; i < half; i++ {
		t := theta
		if factors != nil {
			t /= factors[i]
		}
		t *= freqScale
		cos[i] = float32(math.Cos(float64(t)))
		sin[i] = float32(math.Sin(float64(t)))
		theta *= thetaScale
	}
}

func checkRoPE(op string, x []float32, nHeads, headDim, ropeDim int, cos, sin []float32) {
	if ropeDim < 0 || ropeDim > headDim || ropeDim%2 != 0 || nHeads < 0 {
		panic(fmt.Sprintf("simd.%s: bad ropeDim %d for headDim %d", op, ropeDim, headDim))
	}
	checkMat(op, "x", len(x), nHeads*headDim)
	checkMat(op, "cos", len(cos), ropeDim/2)
	checkMat(op, "sin", len(sin), ropeDim/2)
}

// RoPE rotates x in place, llama.cpp's "NORM" mode (arch llama): for each of
// nHeads heads of headDim values, the adjacent pair (x[2i], x[2i+1]) for
// i < ropeDim/2 is rotated by the angle whose cosine and sine are cos[i],
// sin[i] (see RoPEFreqs). Values at ropeDim and beyond are untouched.
func RoPE(x []float32, nHeads, headDim, ropeDim int, cos, sin []float32) {
	checkRoPE("RoPE", x, nHeads, headDim, ropeDim, cos, sin)
	half := ropeDim / 2
	for h := 0; h < nHeads; h++ {
		ropePairs(x[h*headDim:h*headDim+ropeDim], cos[:half], sin[:half], false)
	}
}

// RoPEBack applies the inverse rotation of RoPE in place: given the gradient
// with respect to RoPE's output it yields the gradient with respect to its
// input (the rotation is orthogonal, so its transpose is its inverse).
func RoPEBack(dx []float32, nHeads, headDim, ropeDim int, cos, sin []float32) {
	checkRoPE("RoPEBack", dx, nHeads, headDim, ropeDim, cos, sin)
	half := ropeDim / 2
	for h := 0; h < nHeads; h++ {
		ropePairs(dx[h*headDim:h*headDim+ropeDim], cos[:half], sin[:half], true)
	}
}

// RoPENeox rotates x in place, llama.cpp's "NEOX" mode (arch qwen2,
// qwen3; transformers' rotate_half): for each head, the pair (x[i],
// x[i+ropeDim/2]) for i < ropeDim/2 is rotated by cos[i], sin[i], with
// RoPE's arithmetic.
func RoPENeox(x []float32, nHeads, headDim, ropeDim int, cos, sin []float32) {
	checkRoPE("RoPENeox", x, nHeads, headDim, ropeDim, cos, sin)
	half := ropeDim / 2
	for h := 0; h < nHeads; h++ {
		ropeHalves(x[h*headDim:h*headDim+half], x[h*headDim+half:h*headDim+ropeDim], cos[:half], sin[:half], false)
	}
}

// RoPENeoxBack is RoPENeox's inverse rotation (its backward pass).
func RoPENeoxBack(dx []float32, nHeads, headDim, ropeDim int, cos, sin []float32) {
	checkRoPE("RoPENeoxBack", dx, nHeads, headDim, ropeDim, cos, sin)
	half := ropeDim / 2
	for h := 0; h < nHeads; h++ {
		ropeHalves(dx[h*headDim:h*headDim+half], dx[h*headDim+half:h*headDim+ropeDim], cos[:half], sin[:half], true)
	}
}

// Argmax returns the index of the largest element of x: the first one on
// ties, and 0 for an empty x. NaNs never compare larger, so they win only
// at index 0. The WebAssembly host build runs it on the host: a greedy
// decode of a 32k vocabulary spent ~0.45 ms per token in this loop as
// Go-compiled wasm, a third of the 15M model's whole step.
func Argmax(x []float32) int {
	if len(x) == 0 {
		return 0
	}
	return argmax(x)
}

func argmaxGeneric(x []float32) int {
	best, m := 0, x[0]
	for i, v := range x {
		if v > m {
			best, m = i, v
		}
	}
	return best
}
