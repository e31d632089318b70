package main

import (
	"fmt"
	"math"
)

// stat is the mean and sample standard deviation of one measurement over
// a row's seeds (SD is NaN for a single seed).
type stat struct {
	Mean, SD float64
	N        int
}

func summarize(xs []float64) stat {
	s := stat{N: len(xs), Mean: math.NaN(), SD: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// format prints mean ± sd with the given decimals.
func (s stat) format(decimals int) string {
	if s.N == 0 {
		return "—"
	}
	if math.IsNaN(s.SD) {
		return fmt.Sprintf("%.*f", decimals, s.Mean)
	}
	return fmt.Sprintf("%.*f ± %.*f", decimals, s.Mean, decimals, s.SD)
}

// winRule is stated in RESULTS.md as written here.
const winRule = "LoRAShear **wins** against a baseline at a ratio when its mean is better by more than 2·sd(diff), " +
	"where sd(diff) = √(sd_L²/n_L + sd_B²/n_B) is the standard deviation of the difference of the two means " +
	"(sample sds over the seeds, n seeds each); it **loses** when the baseline's mean is better by more than that; " +
	"otherwise the two are **level**. With a single seed no sd exists and nothing is called."

// compare applies winRule to LoRAShear's l against the baseline's b;
// lowerBetter says which direction is better.
func compare(l, b stat, lowerBetter bool) (verdict string, diff, sdDiff float64) {
	diff = b.Mean - l.Mean // > 0: LoRAShear better when lower is better
	if !lowerBetter {
		diff = -diff
	}
	if l.N < 2 || b.N < 2 {
		return "n/a", diff, math.NaN()
	}
	sdDiff = math.Sqrt(l.SD*l.SD/float64(l.N) + b.SD*b.SD/float64(b.N))
	switch {
	case diff > 2*sdDiff:
		return "win", diff, sdDiff
	case -diff > 2*sdDiff:
		return "loss", diff, sdDiff
	}
	return "level", diff, sdDiff
}
