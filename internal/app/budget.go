package app

import (
	"fmt"
	"math"
	"slices"

	"github.com/shear-ai/shear/prune"
)

// The default step budget of `shear lorashear`. The base counts
// (prune.DefaultLHSPG, prune.DefaultRecover) suit a model of
// BudgetRefParams parameters; a smaller model's steps are cheaper, so
// it gets proportionally more of them — a fixed amount of training
// compute (steps × parameters) rather than a fixed number of steps —
// up to MaxBudgetScale times the base. LHSPG gets the square root of that
// multiplier (its steps were worth less than recovery's in
// docs/VALIDATION-defaults.md), and recovery a further factor for the
// damage d = max(1, target/BudgetRefTarget): d^DamageStepsPower in steps
// and d in learning rates (a heavily pruned model recovers longer, and
// faster at a higher rate; docs/VALIDATION-defaults.md chose the
// exponent on the validation split at 50%). Everything here depends on
// the model's shape and the target only, so a run stays deterministic
// given its seed.
const (
	BudgetRefParams = 2_000_000
	BudgetRefTarget = 0.25
	MaxBudgetScale  = 16
	// DamageStepsPower is the exponent of the damage factor in
	// recovery's step counts (its rates get the factor itself).
	DamageStepsPower = 1.5
)

// The step counts a budget scales, by their flag names.
const (
	StepsWarmup   = "lhspg-warmup"
	StepsPeriod   = "period-steps"
	StepsRecover  = "recover-steps"
	StepsInstruct = "instruct-steps"
	// The learning rates the damage factor scales: recovery's (from --lr
	// or --recover-lr) and stage 2's.
	RateRecover  = "recover-lr"
	RateInstruct = "instruct-lr"
)

// StepBudget is how a run's step counts were chosen (report.json and
// --json "budget").
type StepBudget struct {
	Scale        float64  `json:"scale"`         // the compute multiplier of the base counts
	LHSPGScale   float64  `json:"lhspg_scale"`   // √Scale
	RecoverScale float64  `json:"recover_scale"` // Scale × max(1, target/BudgetRefTarget)^DamageStepsPower
	Explicit     []string `json:"explicit,omitempty"`
	Warmup       int      `json:"lhspg_warmup"`
	Periods      int      `json:"periods"`
	PeriodSteps  int      `json:"period_steps"`
	Recover      int      `json:"recover_steps"`
	Instruct     int      `json:"instruct_steps"`
	RecoverLR    float64  `json:"recover_lr"`
	InstructLR   float64  `json:"instruct_lr"`
	Reason       string   `json:"reason"`
}

// AutoScale is the compute multiplier for a model of params parameters:
// BudgetRefParams/params clamped to [1, MaxBudgetScale].
func AutoScale(params int) float64 {
	return min(MaxBudgetScale, max(1, float64(BudgetRefParams)/float64(max(params, 1))))
}

// scaleSteps multiplies the step counts of opt and ropt that are not in
// explicit: by scale (0: AutoScale(params)), LHSPG by its square root
// and recovery by the damage factor too, and recovery's rates not in
// explicit by the damage factor (steps by its DamageStepsPower). It
// returns the budget used.
func scaleSteps(opt *prune.Options, ropt *prune.RecoverOptions, params int, scale float64, explicit []string) StepBudget {
	why := fmt.Sprintf("--budget %g", scale)
	if scale == 0 {
		scale = AutoScale(params)
		why = fmt.Sprintf("scaled to the model: %d params against the reference %d", params, BudgetRefParams)
	}
	damage := max(1, opt.Target/BudgetRefTarget)
	b := StepBudget{Scale: scale, LHSPGScale: math.Sqrt(scale), RecoverScale: scale * math.Pow(damage, DamageStepsPower), Explicit: explicit}
	set := func(name string, n *int, by float64) {
		if !slices.Contains(explicit, name) {
			*n = int(math.Round(float64(*n) * by))
		}
	}
	set(StepsWarmup, &opt.LHSPG.Warmup, b.LHSPGScale)
	set(StepsPeriod, &opt.LHSPG.PeriodSteps, b.LHSPGScale)
	opt.LHSPG.PeriodSteps = max(opt.LHSPG.PeriodSteps, 1) // a period has a step however small the budget
	set(StepsRecover, &ropt.Stage1Steps, b.RecoverScale)
	set(StepsInstruct, &ropt.Stage2Steps, b.RecoverScale)
	if !slices.Contains(explicit, RateRecover) {
		ropt.LR *= damage
	}
	if !slices.Contains(explicit, RateInstruct) {
		ropt.Stage2LR *= damage
	}
	b.Warmup, b.Periods, b.PeriodSteps = opt.LHSPG.Warmup, opt.LHSPG.Periods, opt.LHSPG.PeriodSteps
	b.Recover, b.Instruct, b.RecoverLR, b.InstructLR = ropt.Stage1Steps, ropt.Stage2Steps, ropt.LR, ropt.Stage2LR
	b.Reason = fmt.Sprintf("%s → ×%.2f compute; LHSPG steps ×%.2f, recovery steps ×%.2f and rates ×%.2f (target %g)",
		why, scale, b.LHSPGScale, b.RecoverScale, damage, opt.Target)
	if len(explicit) > 0 {
		b.Reason += fmt.Sprintf("; given explicitly: %v", explicit)
	}
	return b
}
