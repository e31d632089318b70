package prune

import (
	"fmt"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// MemoryPlan records what a stage was estimated to need before it
// allocated anything, against the budget (0: none set), and for recovery
// which training ran and why.
type MemoryPlan struct {
	Budget   int64        `json:"budget"`
	Estimate int64        `json:"estimate"` // bytes: the model(s) and the trainer(s)
	Parts    train.Memory `json:"parts"`
	Mode     string       `json:"mode,omitempty"` // recovery: "full-rank" or "lora"
	Reason   string       `json:"reason,omitempty"`
}

// GiB formats bytes for messages.
func GiB(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

// trainerPlan estimates a trainer of m with opt, plus a frozen teacher
// (distillation) over a model of teacher's shape held beside it.
func trainerPlan(m *model.Model, opt train.Options, teacher *model.Model) train.Memory {
	e := train.EstimateFor(m, opt)
	if teacher != nil {
		t := train.EstimateFor(teacher, train.Options{Frozen: true, Batch: opt.Batch, Ctx: opt.Ctx})
		e = e.Add(t)
	}
	return e
}

// overBudget is the error of a stage whose estimate exceeds the budget.
func overBudget(stage string, e train.Memory, budget int64) error {
	return fmt.Errorf("%s needs about %s (weights %s, activations %s, adapter and optimizer %s, scratch %s), over the --memory budget of %s",
		stage, GiB(e.Total()), GiB(e.Base+e.BaseGrads), GiB(e.Activations), GiB(e.Adapter+e.Optimizer), GiB(e.Scratch), GiB(budget))
}

// planRecovery decides, before anything is allocated, between full-rank
// recovery (fp32 master weights, AdamW moments, and the teacher when
// distilling) and LoRA recovery: full-rank when asked for and within the
// budget, else LoRA when that fits, else an error with the estimate.
func planRecovery(pruned, dense *model.Model, opt RecoverOptions) (*MemoryPlan, error) {
	var teacher *model.Model
	if opt.Distill > 0 {
		teacher = dense
	}
	topt := train.Options{LoRA: opt.LoRA, Batch: opt.Batch, Ctx: opt.Ctx}
	lora := trainerPlan(pruned, topt, teacher)
	plan := &MemoryPlan{Budget: opt.Memory, Mode: "lora", Estimate: lora.Total(), Parts: lora}
	if opt.Full {
		topt.Full = true
		full := trainerPlan(pruned, topt, teacher)
		switch {
		case opt.Memory == 0:
			plan.Mode, plan.Estimate, plan.Parts, plan.Reason = "full-rank", full.Total(), full, "no memory budget set"
		case full.Total() <= opt.Memory:
			plan.Mode, plan.Estimate, plan.Parts = "full-rank", full.Total(), full
			plan.Reason = fmt.Sprintf("full-rank recovery needs about %s, within the %s budget", GiB(full.Total()), GiB(opt.Memory))
		case lora.Total() <= opt.Memory:
			plan.Reason = fmt.Sprintf("full-rank recovery needs about %s (fp32 master weights and AdamW moments), over the %s budget: LoRA recovery (about %s) instead",
				GiB(full.Total()), GiB(opt.Memory), GiB(lora.Total()))
		default:
			return nil, overBudget("recovery (full-rank or LoRA)", lora, opt.Memory)
		}
		return plan, nil
	}
	if opt.Memory > 0 && lora.Total() > opt.Memory {
		return nil, overBudget("LoRA recovery", lora, opt.Memory)
	}
	plan.Reason = "LoRA recovery asked for (--recover-full=false)"
	return plan, nil
}
