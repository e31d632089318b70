package app

import (
	"context"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// DynamicRecoverRequest is `shear recover`: dynamic knowledge recovery of
// a pruned model against its dense original, on weighted subsets of the
// text (stage 1) and then the instructions (stage 2).
type DynamicRecoverRequest struct {
	Data    DataFiles            `json:"data"`
	Subsets int                  `json:"subsets"` // a single text file is cut into this many
	Options prune.RecoverOptions `json:"options"`
}

// Default is `shear recover`'s request without data.
func (DynamicRecoverRequest) Default() DynamicRecoverRequest {
	return DynamicRecoverRequest{Subsets: protocol.Subsets, Options: prune.DefaultRecover()}
}

// RecoverDynamic loads the request's data and recovers pruned (float32;
// modified in place) with dense as the reference. A stage without data
// is skipped.
func RecoverDynamic(ctx context.Context, pruned, dense *model.Model, req DynamicRecoverRequest, progress Progress) (*prune.RecoverReport, error) {
	if err := req.Data.Need(); err != nil {
		return nil, err
	}
	if dense.Vocab != pruned.Vocab {
		return nil, fmt.Errorf("the dense model's vocabulary (%d) differs from the pruned model's (%d)", dense.Vocab, pruned.Vocab)
	}
	opt := req.Options
	var subs []prune.Subset
	var err error
	switch {
	case req.Data.embedded(): // one subset per embedded text, as lorashear cuts them
		var p protocol.DataPlan
		for _, t := range req.Data.Embedded.Texts {
			p.Train, p.Names = append(p.Train, t.Text), append(p.Names, t.Name)
		}
		subs = p.Subsets(pruned, opt.Ctx, req.Subsets)
		if val, _ := protocol.SplitHeldOut(req.Data.Embedded.HeldOut); val != "" {
			opt.Dev = train.PackText(pruned.Tok, val, opt.Ctx) // early stopping on the validation half, as lorashear's
		}
	case req.Data.Text != "": // cut as lorashear cuts it: early stopping on the validation text
		p, err := req.Data.cut(pruned, opt.Ctx)
		if err != nil {
			return nil, err
		}
		if subs = p.Subsets(pruned, opt.Ctx, req.Subsets); len(subs) == 0 {
			return nil, fmt.Errorf("%s: too little text for any subset", req.Data.Text)
		}
		opt.Dev = train.PackText(pruned.Tok, p.Validation, opt.Ctx)
		return recoverStages(ctx, pruned, dense, subs, p.Instruct, opt, progress)
	}
	ins, err := req.Data.instructions(pruned, opt.Ctx)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		opt.Stage1Steps = 0
	}
	return recoverStages(ctx, pruned, dense, subs, ins, opt, progress)
}

// recoverStages runs prune.Recover (stage 2 only when there are
// instructions), reporting each stage against its own length.
func recoverStages(ctx context.Context, pruned, dense *model.Model, subs []prune.Subset, ins []train.Example, opt prune.RecoverOptions, progress Progress) (*prune.RecoverReport, error) {
	if len(ins) == 0 {
		opt.Stage2Steps = 0
	}
	return prune.Recover(ctx, pruned, dense, subs, ins, opt, func(stage string, s train.StepInfo) {
		total := opt.Stage1Steps
		if stage == "recover-2" {
			total = opt.Stage2Steps
		}
		progress(stage, s.Step, total, s.Loss)
	})
}
