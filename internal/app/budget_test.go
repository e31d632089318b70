package app

import (
	"strings"
	"testing"

	"github.com/shear-ai/shear/prune"
)

// TestScaleSteps: the default budget against counts worked out by hand
// from the base (LHSPG 20 + 4×20, recovery 100 + 30 at 1e-3 and 1e-4).
func TestScaleSteps(t *testing.T) {
	cases := []struct {
		name     string
		params   int
		target   float64
		budget   float64
		explicit []string
		// warm-up, period steps, stage 1, stage 2; the rates
		want     [4]int
		lr, lr2  float64
		inReason string
	}{
		// stories260K: 2e6/292800 = 6.83; √6.83 = 2.61.
		{"stories260K at 20%", 292800, 0.2, 0, nil, [4]int{52, 52, 683, 205}, 1e-3, 1e-4, "292800 params"},
		// At 50% the damage is 2 (0.5/0.25): recovery's steps ×2^1.5 = 2.83
		// (6.83 × 2.83 = 19.32), its rates ×2.
		{"stories260K at 50%", 292800, 0.5, 0, nil, [4]int{52, 52, 1932, 580}, 2e-3, 2e-4, "target 0.5"},
		// The embedded default model: 2e6/1246592 = 1.60; √1.60 = 1.27.
		{"embedded model", 1246592, 0.2, 0, nil, [4]int{25, 25, 160, 48}, 1e-3, 1e-4, "×1.60"},
		// A model above the reference keeps the base counts.
		{"110M", 110_000_000, 0.2, 0, nil, [4]int{20, 20, 100, 30}, 1e-3, 1e-4, "×1.00"},
		// A tiny model is capped at 16×.
		{"tiny", 1000, 0.2, 0, nil, [4]int{80, 80, 1600, 480}, 1e-3, 1e-4, "×16.00"},
		// --budget 1 is the base counts whatever the model.
		{"--budget 1", 292800, 0.2, 1, nil, [4]int{20, 20, 100, 30}, 1e-3, 1e-4, "--budget 1"},
		// A tiny --budget still leaves each period a step.
		{"--budget 0.0001", 292800, 0.2, 0.0001, nil, [4]int{0, 1, 0, 0}, 1e-3, 1e-4, "--budget 0.0001"},
		// Explicit counts and rates are kept as given.
		{"explicit", 292800, 0.5, 0, []string{StepsPeriod, StepsInstruct, RateRecover}, [4]int{52, 20, 1932, 30}, 1e-3, 2e-4, "given explicitly"},
	}
	for _, c := range cases {
		opt, ropt := prune.DefaultOptions(), prune.DefaultRecover()
		opt.Target = c.target
		b := scaleSteps(&opt, &ropt, c.params, c.budget, c.explicit)
		got := [4]int{opt.LHSPG.Warmup, opt.LHSPG.PeriodSteps, ropt.Stage1Steps, ropt.Stage2Steps}
		if got != c.want || opt.LHSPG.Periods != 4 {
			t.Errorf("%s: steps %v, %d periods; want %v, 4", c.name, got, opt.LHSPG.Periods, c.want)
		}
		if !near(ropt.LR, c.lr) || !near(ropt.Stage2LR, c.lr2) {
			t.Errorf("%s: rates %g, %g; want %g, %g", c.name, ropt.LR, ropt.Stage2LR, c.lr, c.lr2)
		}
		// The report says what was used.
		if [4]int{b.Warmup, b.PeriodSteps, b.Recover, b.Instruct} != got || b.Periods != 4 || b.RecoverLR != ropt.LR || b.InstructLR != ropt.Stage2LR {
			t.Errorf("%s: the budget reports %+v, the options hold %v at %g, %g", c.name, b, got, ropt.LR, ropt.Stage2LR)
		}
		if !strings.Contains(b.Reason, c.inReason) {
			t.Errorf("%s: reason %q does not say %q", c.name, b.Reason, c.inReason)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }
