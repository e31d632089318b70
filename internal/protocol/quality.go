package protocol

import (
	"context"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
)

// The pipeline's default sizes (`shear lorashear`, and tools/results'
// budget): perplexity chunks evaluated, calibration sequences, recovery
// subsets, and the context multiple-choice items are scored in.
const (
	EvalChunks = 100
	CalibSeqs  = 8
	Subsets    = 4
	MCCtx      = 512
)

// Defaults are the pipeline's default pruning and recovery options
// before any scaling to the model (internal/app's step budget).
func Defaults() (prune.Options, prune.RecoverOptions) {
	return prune.DefaultOptions(), prune.DefaultRecover()
}

// Quality is a model's evaluation in the pipeline report.
type Quality struct {
	PPL     float64  `json:"ppl"`
	Chunks  int      `json:"chunks"`
	Acc     *float64 `json:"acc,omitempty"`
	AccNorm *float64 `json:"acc_norm,omitempty"`
}

// Evaluate is m's perplexity on heldOut (ctx 256, the first chunks) and,
// with items, its multiple choice accuracy (context MCCtx).
func Evaluate(ctx context.Context, m *model.Model, heldOut string, chunks int, mc []eval.MCItem) (Quality, error) {
	res, err := eval.Perplexity(m, m.Tok.Encode(heldOut), 256, chunks, nil)
	if err != nil {
		return Quality{}, err
	}
	q := Quality{PPL: res.PPL, Chunks: res.Chunks}
	if len(mc) > 0 {
		r, err := eval.MultipleChoice(ctx, m, mc, MCCtx, nil)
		if err != nil {
			return q, err
		}
		q.Acc, q.AccNorm = &r.Acc, &r.AccNorm
	}
	return q, nil
}
