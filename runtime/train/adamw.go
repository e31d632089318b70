package train

import (
	"math"

	"github.com/shear-ai/shear/simd"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter) and bias
// correction. Moments are float32, one pair per parameter tensor.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Steps                          int // optimizer steps taken
	M, V                           [][]float32
}

// NewAdamW returns an optimizer with moments sized for params.
func NewAdamW(params []Param, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
	for _, p := range params {
		o.M = append(o.M, make([]float32, len(p.W)))
		o.V = append(o.V, make([]float32, len(p.W)))
	}
	return o
}

// Step applies one update with learning rate lr:
// w ← w − lr·(m̂/(√v̂ + ε) + λ·w) for decayed tensors.
func (o *AdamW) Step(params []Param, lr float64) {
	o.Steps++
	t := float64(o.Steps)
	c1 := 1 - simd.Pow64(o.Beta1, t)
	c2 := 1 - simd.Pow64(o.Beta2, t)
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	for k, p := range params {
		m, v := o.M[k], o.V[k]
		decay := float32(0)
		if p.Decay {
			decay = float32(lr * o.WeightDecay)
		}
		stepSize := float32(lr / c1)
		sc2 := float32(1 / math.Sqrt(c2))
		eps := float32(o.Eps)
		for i, g := range p.G {
			m[i] = b1*m[i] + (1-b1)*g
			v[i] = b2*v[i] + (1-b2)*g*g
			denom := float32(math.Sqrt(float64(v[i])))*sc2 + eps
			p.W[i] -= stepSize*m[i]/denom + decay*p.W[i]
		}
	}
}

// ClipGradNorm scales all gradients so their global L2 norm is at most
// maxNorm (≤ 0: no clipping) and returns the norm before clipping.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	var ss float64
	for _, p := range params {
		for _, g := range p.G {
			ss += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / (norm + 1e-12))
		for _, p := range params {
			for i := range p.G {
				p.G[i] *= s
			}
		}
	}
	return norm
}

// Schedule is linear warm-up to LR, then cosine decay to MinLR at Total.
type Schedule struct {
	LR     float64 `json:"lr"`
	MinLR  float64 `json:"min_lr"`
	Warmup int     `json:"warmup"`
	Total  int     `json:"total,omitempty"`
}

// At returns the learning rate for optimizer step s (0-based).
func (s Schedule) At(step int) float64 {
	if step < s.Warmup {
		return s.LR * float64(step+1) / float64(s.Warmup)
	}
	if s.Total <= s.Warmup {
		return s.LR
	}
	p := math.Min(1, float64(step-s.Warmup)/float64(s.Total-s.Warmup))
	return s.MinLR + 0.5*(s.LR-s.MinLR)*(1+math.Cos(math.Pi*p))
}
