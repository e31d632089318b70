package main

import (
	"math"
	"testing"
)

// TestSummarize against hand-computed values: {1, 2, 4} has mean 7/3 and
// sample variance ((4/3)² + (1/3)² + (5/3)²)/2 = 7/3.
func TestSummarize(t *testing.T) {
	s := summarize([]float64{1, 2, 4})
	if math.Abs(s.Mean-7.0/3) > 1e-12 || math.Abs(s.SD-math.Sqrt(7.0/3)) > 1e-12 || s.N != 3 {
		t.Errorf("got %+v", s)
	}
	if s := summarize([]float64{5}); s.Mean != 5 || !math.IsNaN(s.SD) || s.format(1) != "5.0" {
		t.Errorf("one seed: %+v %q", s, s.format(1))
	}
}

// TestCompare: the 2·sd(diff) rule, both directions, at its boundary.
func TestCompare(t *testing.T) {
	l := stat{Mean: 10, SD: 3, N: 3}
	b := stat{Mean: 10 + 2*math.Sqrt(6) + 0.01, SD: 3, N: 3} // sd(diff) = √(9/3+9/3) = √6
	if v, d, sd := compare(l, b, true); v != "win" || math.Abs(sd-math.Sqrt(6)) > 1e-12 || d <= 0 {
		t.Errorf("lower is better: %s %g %g", v, d, sd)
	}
	b.Mean = 10 + 2*math.Sqrt(6) - 0.01
	if v, _, _ := compare(l, b, true); v != "level" {
		t.Errorf("inside 2·sd: %s", v)
	}
	if v, _, _ := compare(l, stat{Mean: 20, SD: 3, N: 3}, false); v != "loss" {
		t.Errorf("higher is better, baseline far higher: %s", v)
	}
	if v, _, _ := compare(stat{Mean: 1, N: 1}, stat{Mean: 9, N: 1}, true); v != "n/a" {
		t.Errorf("one seed: %s", v)
	}
}
