package train

import "github.com/shear-ai/shear/internal/valid"

// The option groups that finetuning, pruning and recovery share, each
// defined once. They are embedded (so their JSON fields stay flat, as on
// the wasm ABI) in prune.Options, prune.RecoverOptions and Config.

// Optim is the batch shape, peak rate, clipping and seed of a trainer
// (the CLI's --batch, --ctx, --lr, --clip and --seed).
type Optim struct {
	Batch int     `json:"batch"` // sequences per micro-batch
	Ctx   int     `json:"ctx"`   // tokens per sequence
	LR    float64 `json:"lr"`    // peak learning rate
	Clip  float64 `json:"clip"`  // global gradient-norm clip (0: off)
	Seed  uint64  `json:"seed"`
}

// Check is the one range check of these options (named by their CLI
// flags); maxCtx bounds the sequence length (the model's context when it
// is known, else MaxCtx).
func (o Optim) Check(maxCtx int) error {
	return valid.First(
		valid.Int("--batch", o.Batch, 1, 1<<16),
		valid.Int("--ctx", o.Ctx, 8, maxCtx),
		valid.Float("--lr", o.LR, valid.Positive),
		valid.Float("--clip", o.Clip, valid.NonNegative),
	)
}

// Checkpointing says where a loop keeps its checkpoint.
type Checkpointing struct {
	Checkpoint      string `json:"checkpoint,omitempty"` // "" disables checkpoints
	CheckpointEvery int    `json:"checkpoint_every,omitempty"`
	Resume          bool   `json:"resume,omitempty"` // continue from Checkpoint if it exists
}

// Distillation from the dense model: the loss becomes
// (1−λ)·CE + λ·τ²·KL(p_dense(τ) ‖ p(τ)), λ = Distill, τ = DistillTemp
// (Trainer.SetTeacher).
type Distillation struct {
	Distill     float64 `json:"distill,omitempty"` // 0: off
	DistillTemp float64 `json:"distill_temp,omitempty"`
}

// Check is the one range check of the distillation options.
func (d Distillation) Check(flag string) error {
	if err := valid.Float(flag, d.Distill, valid.UnitInterval); err != nil || d.Distill == 0 {
		return err
	}
	return valid.Float("--distill-temp", d.DistillTemp, valid.Positive)
}
