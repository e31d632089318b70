package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/shear-ai/shear/runtime/eval"
)

// Config is a training run.
type Config struct {
	Steps       int      `json:"steps"`        // optimizer steps
	Accum       int      `json:"accum"`        // micro-batches per step (gradient accumulation)
	Sched       Schedule `json:"schedule"`     // learning rate; Total defaults to Steps
	WeightDecay float64  `json:"weight_decay"` // AdamW decoupled weight decay
	ClipNorm    float64  `json:"clip"`         // ≤ 0: no clipping
	EvalEvery   int      `json:"eval_every"`   // dev loss every N steps (0: only before and after)
	DevMax      int      `json:"dev_max"`      // at most this many dev examples (0: all)
	Seed        uint64   `json:"seed"`         // data order
	Checkpointing
	// Source, when set, supplies the micro-batches instead of a uniform
	// Loader over the training examples (recovery's weighted sampling).
	Source Source `json:"-"`
	// Patience > 0 stops after that many dev evaluations (EvalEvery)
	// without improvement, and keeps the best weights.
	Patience int `json:"patience,omitempty"`
	// Stepper, when set, takes every optimizer step (one micro-batch
	// each: Accum must be 1) instead of the loop's AdamW.
	Stepper Stepper `json:"-"`
}

// Stepper takes the optimizer steps of a loop whose update is not plain
// AdamW (LHSPG's projected steps). Run still draws the micro-batches,
// schedules the rate, logs, and checkpoints the trainer, the optimizer,
// the source and the stepper's own state.
type Stepper interface {
	// Optimizer is the AdamW the stepper updates with; its moments and
	// step count go into a checkpoint.
	Optimizer() *AdamW
	// Step takes optimizer step step (0-based) on one micro-batch at rate
	// lr (gradient, clipping and update) and returns the batch's loss.
	Step(step int, tokens, targets []int, lr float64) (float64, error)
	// Arrays are the stepper's float32 state beyond the trainer's weights
	// and the optimizer's moments; State and SetState save and restore the
	// rest (SetState runs before the first step of a resumed run).
	Arrays() []Array
	State() ([]byte, error)
	SetState([]byte) error
}

// MaxCtx bounds sequence lengths when no model is known yet.
const MaxCtx = 1 << 20

// Source hands out micro-batches. Its state is part of a checkpoint.
type Source interface {
	Next(tokens, targets []int)
	State() ([]byte, error)
	SetState([]byte) error
}

// StepInfo is one line of the loss log.
type StepInfo struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"`
	Tokens   int     `json:"tokens"` // scored tokens in this step
	DevLoss  float64 `json:"dev_loss,omitempty"`
	KL       float64 `json:"kl,omitempty"` // mean distillation KL (SetTeacher)
	Seconds  float64 `json:"seconds"`      // wall time since the run (or resume) started
}

// Result summarises a run.
type Result struct {
	Steps         int        `json:"steps"`
	DevLossBefore float64    `json:"dev_loss_before"`
	DevLossAfter  float64    `json:"dev_loss_after"`
	TokensPerS    float64    `json:"tokens_per_s"`
	StoppedEarly  int        `json:"stopped_early,omitempty"` // step of an early stop
	BestStep      int        `json:"best_step,omitempty"`     // step whose weights were kept (early stopping)
	Log           []StepInfo `json:"-"`
}

// Evaluate is the mean loss over examples (every scored token counts
// once), summed by eval.AddNLL as every mean loss is: on a model without
// an adapter it is bit for bit the mean of eval.SequenceNLL.
func Evaluate(tr *Trainer, examples []Example) (float64, error) {
	var sum float64
	var count int
	tks, tgs := Batches(examples, tr.B, tr.T)
	for i := range tks {
		for _, tg := range tgs[i] {
			if tg >= tr.M.Vocab {
				return 0, fmt.Errorf("train: target %d outside the vocabulary", tg)
			}
		}
		err := tr.EachLogits(tks[i], func(r0 int, logits []float32) {
			n := len(logits) / tr.M.Vocab
			var k int
			sum, k = eval.AddNLL(sum, logits, tr.M.Vocab, tgs[i][r0:r0+n])
			count += k
		})
		if err != nil {
			return 0, err
		}
	}
	if count == 0 {
		return math.NaN(), nil
	}
	return sum / float64(count), nil
}

// Run trains for cfg.Steps optimizer steps. onStep (optional) sees every
// step. Cancelling ctx stops after the current step (a checkpoint is
// written first when checkpoints are on) and returns ctx's error.
func Run(ctx context.Context, tr *Trainer, trainEx, devEx []Example, cfg Config, onStep func(StepInfo)) (Result, error) {
	if cfg.Steps < 1 {
		return Result{}, fmt.Errorf("train: steps %d must be ≥ 1", cfg.Steps)
	}
	if len(trainEx) == 0 && cfg.Source == nil {
		return Result{}, fmt.Errorf("train: no training examples")
	}
	if cfg.Accum < 1 {
		cfg.Accum = 1
	}
	if cfg.Sched.Total == 0 {
		cfg.Sched.Total = cfg.Steps
	}
	if cfg.DevMax > 0 && len(devEx) > cfg.DevMax {
		devEx = devEx[:cfg.DevMax]
	}
	var opt *AdamW
	if cfg.Stepper != nil {
		if cfg.Accum != 1 {
			return Result{}, fmt.Errorf("train: a stepper takes one micro-batch per step (accum %d)", cfg.Accum)
		}
		opt = cfg.Stepper.Optimizer()
	} else {
		opt = NewAdamW(tr.params, cfg.WeightDecay)
	}
	src := cfg.Source
	if src == nil {
		src = &Loader{Examples: trainEx, B: tr.B, T: tr.T, Seed: cfg.Seed}
	}
	var res Result
	start := 0
	if cfg.Resume && cfg.Checkpoint != "" {
		if _, err := os.Stat(cfg.Checkpoint); err == nil {
			s, err := loadCheckpoint(cfg.Checkpoint, tr, opt, src, cfg.Stepper, &res)
			if err != nil {
				return res, err
			}
			start = s
		}
	}
	dev := func() (float64, error) {
		if len(devEx) == 0 {
			return math.NaN(), nil
		}
		return Evaluate(tr, devEx)
	}
	if start == 0 {
		var err error
		if res.DevLossBefore, err = dev(); err != nil {
			return res, err
		}
	}
	tokens, targets := make([]int, tr.N), make([]int, tr.N)
	best, bestAt, sinceBest := math.Inf(1), 0, 0
	var bestW [][]float32
	keepBest := func(d float64, step int) {
		if d < best {
			best, bestAt, sinceBest = d, step, 0
			if bestW == nil {
				for _, p := range tr.params {
					bestW = append(bestW, make([]float32, len(p.W)))
				}
			}
			for k, p := range tr.params {
				copy(bestW[k], p.W)
			}
		} else {
			sinceBest++
		}
	}
	if cfg.Patience > 0 && start == 0 && !math.IsNaN(res.DevLossBefore) {
		keepBest(res.DevLossBefore, 0)
	}
	t0 := time.Now()
	processed := 0 // token positions run through forward and backward
	for step := start; step < cfg.Steps; step++ {
		lr := cfg.Sched.At(step)
		var info StepInfo
		if cfg.Stepper != nil {
			src.Next(tokens, targets)
			loss, err := cfg.Stepper.Step(step, tokens, targets, lr)
			if err != nil {
				return res, err
			}
			info = StepInfo{Loss: loss, KL: tr.KL()}
		} else {
			tr.ZeroGrad()
			var lossSum, klSum float64
			var count int
			for a := 0; a < cfg.Accum; a++ {
				src.Next(tokens, targets)
				loss, n, err := tr.Step(tokens, targets, 1/float32(cfg.Accum))
				if err != nil {
					return res, err
				}
				lossSum += loss * float64(n)
				klSum += tr.KL() * float64(n)
				count += n
			}
			norm := ClipGradNorm(tr.params, cfg.ClipNorm)
			if math.IsNaN(norm) || math.IsInf(norm, 0) {
				return res, fmt.Errorf("train: gradient norm is %v at step %d (lower --lr?)", norm, step+1)
			}
			opt.Step(tr.params, lr)
			info = StepInfo{Loss: lossSum / math.Max(1, float64(count)), GradNorm: norm, KL: klSum / math.Max(1, float64(count)), Tokens: count}
		}
		processed += tr.N * cfg.Accum
		info.Step, info.LR, info.Seconds = step+1, lr, time.Since(t0).Seconds()
		if cfg.EvalEvery > 0 && (step+1)%cfg.EvalEvery == 0 && step+1 < cfg.Steps && len(devEx) > 0 {
			d, err := dev()
			if err != nil {
				return res, err
			}
			if !math.IsNaN(d) { // NaN: no dev token is scored
				info.DevLoss = d
			}
			if cfg.Patience > 0 {
				keepBest(d, step+1)
			}
		}
		res.Log = append(res.Log, info)
		if onStep != nil {
			onStep(info)
		}
		stopping := ctx.Err() != nil
		early := cfg.Patience > 0 && sinceBest >= cfg.Patience
		last := step+1 == cfg.Steps || early
		if cfg.Checkpoint != "" && ((cfg.CheckpointEvery > 0 && (step+1)%cfg.CheckpointEvery == 0) || stopping || last) {
			if err := saveCheckpoint(cfg.Checkpoint, tr, opt, src, cfg.Stepper, step+1, &res); err != nil {
				return res, fmt.Errorf("train: writing checkpoint: %w", err)
			}
		}
		if stopping {
			return res, ctx.Err()
		}
		if early {
			res.StoppedEarly = step + 1
			break
		}
	}
	res.Steps = len(res.Log)
	res.TokensPerS = float64(processed) / time.Since(t0).Seconds()
	var err error
	if res.DevLossAfter, err = dev(); err != nil {
		return res, err
	}
	if bestW != nil && best < res.DevLossAfter {
		for k, p := range tr.params {
			copy(p.W, bestW[k])
		}
		res.DevLossAfter, res.BestStep = best, bestAt
	}
	return res, nil
}
