// Package sample picks the next token from logits: greedy, temperature,
// top-k and top-p (nucleus), seeded for reproducibility.
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/shear-ai/shear/simd"
)

// Params configure a Sampler. Temperature 0 means greedy (argmax).
type Params struct {
	Temperature float32
	TopK        int     // 0: no limit
	TopP        float32 // 0 or 1: no limit
	Seed        uint64
}

// Validate reports parameters outside their ranges.
func (p Params) Validate() error {
	switch {
	case p.Temperature < 0 || math.IsNaN(float64(p.Temperature)):
		return fmt.Errorf("temperature %v must be ≥ 0", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("top-k %d must be ≥ 0", p.TopK)
	case p.TopP < 0 || p.TopP > 1 || math.IsNaN(float64(p.TopP)):
		return fmt.Errorf("top-p %v must be in [0, 1]", p.TopP)
	}
	return nil
}

// Sampler draws tokens. It reuses its buffers: no allocation per token.
type Sampler struct {
	p     Params
	rng   *rand.Rand
	probs []float32
	idx   []int
}

// New returns a sampler for a vocabulary of n tokens.
func New(p Params, n int) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x5eed)), probs: make([]float32, n), idx: make([]int, n)}
}

// Argmax returns the index of the largest logit (the first on ties).
func Argmax(logits []float32) int { return simd.Argmax(logits) }

// Sample picks a token from logits (which it does not modify).
func (s *Sampler) Sample(logits []float32) int {
	if s.p.Temperature == 0 {
		return Argmax(logits)
	}
	n := len(logits)
	probs, idx := s.probs[:n], s.idx[:n]
	maxv := logits[Argmax(logits)]
	var sum float64
	for i, v := range logits {
		e := simd.Exp64(float64((v - maxv) / s.p.Temperature))
		probs[i] = float32(e)
		sum += e
		idx[i] = i
	}
	k := n
	if s.p.TopK > 0 && s.p.TopK < n {
		k = s.p.TopK
	}
	topP := s.p.TopP
	if k < n || (topP > 0 && topP < 1) {
		// Sort candidates by probability, descending; ties by index for determinism.
		sort.Slice(idx, func(a, b int) bool {
			pa, pb := probs[idx[a]], probs[idx[b]]
			return pa > pb || pa == pb && idx[a] < idx[b]
		})
		idx = idx[:k]
		sum = 0
		for _, i := range idx {
			sum += float64(probs[i])
		}
		if topP > 0 && topP < 1 {
			var cum float64
			for j, i := range idx {
				cum += float64(probs[i]) / sum
				if cum >= float64(topP) {
					idx = idx[:j+1]
					break
				}
			}
			sum = 0
			for _, i := range idx {
				sum += float64(probs[i])
			}
		}
	}
	r := s.rng.Float64() * sum
	var cum float64
	for _, i := range idx {
		cum += float64(probs[i])
		if r < cum {
			return i
		}
	}
	return idx[len(idx)-1]
}
