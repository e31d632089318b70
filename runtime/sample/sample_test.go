package sample

import (
	"math"
	"testing"
)

// TestSampleDistribution: with temperature T the empirical frequencies
// follow softmax(logits/T); top-k and top-p cut the tail; a seed repeats.
func TestSampleDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, -1, 0}
	p := func(T float64, keep []int) []float64 {
		out := make([]float64, len(logits))
		var z float64
		for _, i := range keep {
			out[i] = math.Exp(float64(logits[i]) / T)
			z += out[i]
		}
		for i := range out {
			out[i] /= z
		}
		return out
	}
	cases := []struct {
		params Params
		want   []float64
	}{
		{Params{Temperature: 1, Seed: 1}, p(1, []int{0, 1, 2, 3, 4})},
		{Params{Temperature: 0.5, Seed: 2}, p(0.5, []int{0, 1, 2, 3, 4})},
		{Params{Temperature: 1, TopK: 2, Seed: 3}, p(1, []int{0, 1})},
		// Sorted probabilities: 0.53, 0.19, 0.12, 0.07, 0.04 (T=1): top-p 0.8 keeps three.
		{Params{Temperature: 1, TopP: 0.8, Seed: 4}, p(1, []int{0, 1, 2})},
	}
	const n = 200000
	for _, c := range cases {
		s := New(c.params, len(logits))
		counts := make([]float64, len(logits))
		for i := 0; i < n; i++ {
			counts[s.Sample(logits)]++
		}
		for i := range counts {
			got := counts[i] / n
			if math.Abs(got-c.want[i]) > 0.005 {
				t.Errorf("%+v: token %d frequency %.4f, want %.4f", c.params, i, got, c.want[i])
			}
		}
	}
	a, b := New(Params{Temperature: 0.8, Seed: 7}, 5), New(Params{Temperature: 0.8, Seed: 7}, 5)
	for i := 0; i < 100; i++ {
		if a.Sample(logits) != b.Sample(logits) {
			t.Fatal("same seed, different tokens")
		}
	}
	if g := New(Params{}, 5).Sample(logits); g != 0 {
		t.Errorf("greedy picked %d", g)
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Params{{Temperature: -1}, {TopK: -2}, {TopP: 1.5}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestSampleAllocs(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(i%17) * 0.1
	}
	s := New(Params{Temperature: 0.9, TopP: 0.9, TopK: 40, Seed: 1}, len(logits))
	if a := testing.AllocsPerRun(10, func() { s.Sample(logits) }); a > 2 {
		t.Errorf("%v allocations per sample", a)
	}
}
