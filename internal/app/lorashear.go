package app

import (
	"context"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"strings"
	"time"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// LoRAShearRequest is `shear lorashear`: the whole method on one model —
// knowledge analysis, LHSPG, compression, dynamic recovery, and the
// evaluation of the dense and the pruned model on held-out text.
type LoRAShearRequest struct {
	Data       DataFiles            `json:"data"`
	EvalPath   string               `json:"eval,omitempty"` // evaluation text (default: the head of every data file)
	MCPath     string               `json:"mc,omitempty"`   // multiple-choice JSONL for acc/acc_norm
	EvalChunks int                  `json:"eval_chunks"`
	CalibSeqs  int                  `json:"calib_seqs"`
	Subsets    int                  `json:"subsets"` // a single text is cut into this many recovery subsets
	Prune      prune.Options        `json:"prune"`
	Recover    prune.RecoverOptions `json:"recover"`
	// Budget multiplies the step counts of Prune.LHSPG and Recover (0:
	// AutoScale of the model, the default) and recovery's rates by the
	// damage (scaleSteps); the counts and rates named in ExplicitSteps
	// (StepsWarmup, …, RateInstruct) are used as they are.
	Budget        float64  `json:"budget"`
	ExplicitSteps []string `json:"explicit_steps,omitempty"`
	// Embedded is the data used when Data.Text is empty (the CLI's
	// embedded Austen texts).
	Embedded *EmbeddedData `json:"-"`
	// Note, when set, is told the stage the run starts next, and what it
	// does ("" when there is nothing to tell a user), between the stages
	// that report progress.
	Note func(stage, what string) `json:"-"`
	// Budgeted, when set, is told the step counts before the run starts.
	Budgeted func(StepBudget) `json:"-"`
	// Dense, when set, loads the dense model again for recovery's teacher
	// once pruning is done, so the run never holds the dense model, its
	// pruned-in-place copy and the compressed one at once; nil: a clone
	// of m is kept from the start.
	Dense func() (*model.Model, error) `json:"-"`
}

// Default is `shear lorashear`'s request without data: LoRAShear's
// pruning defaults and the default recovery with their step counts
// scaled to the model (Budget 0), 100 evaluation chunks, 8 calibration
// sequences, 4 recovery subsets.
func (LoRAShearRequest) Default() LoRAShearRequest {
	opt, ropt := protocol.Defaults()
	return LoRAShearRequest{EvalChunks: protocol.EvalChunks, CalibSeqs: protocol.CalibSeqs, Subsets: protocol.Subsets,
		Prune: opt, Recover: ropt}
}

// EmbeddedData is training text, held-out text and instructions that
// come with the program rather than from files.
type EmbeddedData struct {
	Texts        []protocol.NamedText
	HeldOut      string
	Instructions []train.Instruction
}

// LoRAShearResult is the outcome of a lorashear run.
type LoRAShearResult struct {
	Model    *model.Model         `json:"-"` // the pruned and recovered model
	Report   *prune.Report        `json:"report"`
	Budget   StepBudget           `json:"budget"` // the step counts used and why
	Recovery *prune.RecoverReport `json:"recovery"`
	Dense    protocol.Quality     `json:"dense"`
	Pruned   protocol.Quality     `json:"pruned"`
	MCItems  int                  `json:"mc_items"`
	Dropped  int                  `json:"dropped_instructions"` // left out of training for quoting the evaluation text
	Summary  string               `json:"summary"`              // the markdown table of summary.md
}

// LoRAShear runs the pipeline on m (float32 or float16 weights; m is
// pruned in place, and the dense reference for recovery is req.Dense's
// model or a clone of m).
func LoRAShear(ctx context.Context, m *model.Model, req LoRAShearRequest, progress Progress) (LoRAShearResult, error) {
	var res LoRAShearResult
	if err := valid.Float("--budget", req.Budget, valid.NonNegative); err != nil {
		return res, err
	}
	opt, ropt := req.Prune, req.Recover
	res.Budget = scaleSteps(&opt, &ropt, m.Params(), req.Budget, req.ExplicitSteps)
	if req.Budgeted != nil {
		req.Budgeted(res.Budget)
	}
	texts, ins, evalText, valText := []protocol.NamedText(nil), []train.Instruction(nil), "", ""
	if req.EvalPath != "" {
		b, err := safefile.ReadFile(req.EvalPath)
		if err != nil {
			return res, err
		}
		evalText = string(b)
	}
	var err error
	if req.Data.Text != "" {
		if texts, err = readTexts(req.Data.Text); err != nil {
			return res, err
		}
	} else if e := req.Embedded; e != nil {
		texts = e.Texts
		if evalText == "" {
			valText, evalText = protocol.SplitHeldOut(e.HeldOut)
		}
		if req.Data.Instruct == "" {
			ins = e.Instructions
		}
	}
	if req.Data.Instruct != "" {
		if ins, err = train.ReadInstructions(req.Data.Instruct); err != nil {
			return res, err
		}
	}
	plan := protocol.PlanData(m, texts, ins, evalText, valText, opt.Ctx)
	if plan.Validation != "" { // recovery's early stopping picks its step on the validation text
		ropt.Dev = train.PackText(m.Tok, plan.Validation, ropt.Ctx)
	}
	res.Dropped = plan.Dropped
	var mc []eval.MCItem
	if req.MCPath != "" {
		if mc, err = eval.ReadMC(req.MCPath); err != nil {
			return res, err
		}
	}
	res.MCItems = len(mc)
	stageStart := time.Now()
	var dense *model.Model
	if req.Dense == nil {
		dense = m.Clone()
	}
	req.note("eval-dense", "evaluating the dense model…")
	if res.Dense, err = protocol.Evaluate(ctx, m, plan.Test, req.EvalChunks, mc); err != nil {
		return res, err
	}
	tEvalDense := time.Since(stageStart).Seconds()
	req.note("prune", "pruning: knowledge analysis, LHSPG, compression…")
	cm, rep, err := prune.Prune(ctx, m, opt, plan.PruneData(m, opt.Ctx, req.CalibSeqs, opt.Seed), progress)
	if err != nil {
		return res, err
	}
	res.Report = rep
	req.note("recover-setup", "")
	t0 := time.Now()
	subsets := plan.Subsets(m, opt.Ctx, req.Subsets)
	if dense == nil {
		m = nil // pruned in place: garbage once the teacher is loaded
		if dense, err = req.Dense(); err != nil {
			return res, err
		}
	}
	if res.Recovery, err = recoverStages(ctx, cm, dense, subsets, plan.Instruct, ropt, progress); err != nil {
		return res, err
	}
	rep.Seconds["recover"] = time.Since(t0).Seconds()
	req.note("eval-pruned", "evaluating the pruned model…")
	t0 = time.Now()
	if res.Pruned, err = protocol.Evaluate(ctx, cm, plan.Test, req.EvalChunks, mc); err != nil {
		return res, err
	}
	rep.Seconds["eval"] = time.Since(t0).Seconds() + tEvalDense
	res.Model = cm
	res.Summary = pipelineSummary(rep, res.Dense, res.Pruned, plan.Dropped, len(mc))
	return res, nil
}

func (r LoRAShearRequest) note(stage, what string) {
	if r.Note != nil {
		r.Note(stage, what)
	}
}

// pipelineSummary is the markdown table of a run: dense vs pruned.
func pipelineSummary(rep *prune.Report, dq, pq protocol.Quality, dropped, mcN int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| model | params | ppl (held-out, %d chunks) |", dq.Chunks)
	if mcN > 0 {
		b.WriteString(" acc | acc_norm |")
	}
	b.WriteString("\n|---|---|---|")
	if mcN > 0 {
		b.WriteString("---|---|")
	}
	b.WriteString("\n")
	row := func(name string, params int, q protocol.Quality) {
		fmt.Fprintf(&b, "| %s | %d | %.4f |", name, params, q.PPL)
		if q.Acc != nil {
			fmt.Fprintf(&b, " %.3f | %.3f |", *q.Acc, *q.AccNorm)
		}
		b.WriteString("\n")
	}
	row("dense", rep.ParamsBefore, dq)
	row(fmt.Sprintf("lorashear −%.1f%%", 100*rep.Ratio), rep.ParamsAfter, pq)
	fmt.Fprintf(&b, "\npruned/dense ppl: %.3f×", pq.PPL/dq.PPL)
	if dq.Acc != nil && *dq.Acc > 0 {
		fmt.Fprintf(&b, "; acc retained %.1f%%", 100**pq.Acc / *dq.Acc)
	}
	fmt.Fprintf(&b, "\nper layer: heads %v, kv heads %v, ffn %v\n", rep.Heads, rep.KVHeads, rep.FFN)
	if dropped > 0 {
		fmt.Fprintf(&b, "%d instructions quoting the evaluation text were left out of training\n", dropped)
	}
	return b.String()
}
