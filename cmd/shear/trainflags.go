package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// The training-related flags come in groups, and each command registers
// only the groups its run reads (TestFlagsMapToRequests checks). Each
// group's defaults come from the library's Default constructor, so the
// CLI and the Go API agree.

// dataFlags name the training text and instructions.
type dataFlags struct {
	Data, Instruct string
}

func (f *dataFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.Data, "data", f.Data, "plain text file or directory of text files")
	fl.StringVar(&f.Instruct, "instruct", f.Instruct, "instruction JSONL (Alpaca fields instruction/input/output)")
}

// files is the request's view of the flags.
func (f *dataFlags) files() app.DataFiles { return app.DataFiles{Text: f.Data, Instruct: f.Instruct} }

// orEmbedded is files(), or without --data and --instruct the embedded
// data, with a note on stderr: the Austen novels and their instructions
// (withText false: the instructions only, a task the default model was
// not trained on).
func (f *dataFlags) orEmbedded(withText bool) (app.DataFiles, error) {
	d := f.files()
	if d.Text != "" || d.Instruct != "" {
		return d, nil
	}
	d.Embedded = &app.EmbeddedData{Instructions: assets.DefaultInstructions()}
	what := fmt.Sprintf("%d instructions", len(d.Embedded.Instructions))
	if withText {
		texts, err := defaultTexts()
		if err != nil {
			return d, err
		}
		d.Embedded.Texts = texts
		what = fmt.Sprintf("%d novels and %s", len(texts), what)
	}
	fmt.Fprintf(os.Stderr, "using the embedded Austen data (%s); pass --data PATH and/or --instruct FILE.jsonl for yours\n", what)
	return d, nil
}

// loraFlags are the adapter's shape.
type loraFlags struct {
	Rank           int
	Alpha, Dropout float32
	Targets        string
}

func defaultLoRAFlags() loraFlags {
	c := lora.DefaultConfig()
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.String()
	}
	return loraFlags{Rank: c.Rank, Alpha: c.Alpha, Dropout: c.Dropout, Targets: strings.Join(names, ",")}
}

func (f *loraFlags) register(fl *pflag.FlagSet) {
	fl.IntVar(&f.Rank, "lora-rank", f.Rank, "LoRA rank")
	fl.Float32Var(&f.Alpha, "lora-alpha", f.Alpha, "LoRA alpha (scale = alpha/rank)")
	fl.Float32Var(&f.Dropout, "lora-dropout", f.Dropout, "LoRA dropout")
	fl.StringVar(&f.Targets, "targets", f.Targets, "LoRA target projections")
}

func (f *loraFlags) config() (lora.Config, error) {
	ts, err := lora.ParseTargets(f.Targets)
	if err != nil {
		return lora.Config{}, fmt.Errorf("--targets: %w", err)
	}
	c := lora.Config{Rank: f.Rank, Alpha: f.Alpha, Dropout: f.Dropout, Targets: ts}
	if err := valid.First(valid.Int("--lora-rank", c.Rank, 1, 1<<12),
		valid.Float("--lora-alpha", float64(c.Alpha), valid.Positive),
		valid.Float("--lora-dropout", float64(c.Dropout), valid.HalfOpenUnit)); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// optimFlags are the batch shape, rate and seed every trainer uses.
type optimFlags struct{ train.Optim }

func defaultOptimFlags() optimFlags { return optimFlags{prune.DefaultOptions().Optim} }

func (f *optimFlags) register(fl *pflag.FlagSet) {
	fl.IntVar(&f.Batch, "batch", f.Batch, "sequences per micro-batch")
	fl.IntVar(&f.Ctx, "ctx", f.Ctx, "tokens per sequence")
	fl.Float64Var(&f.LR, "lr", f.LR, "peak learning rate")
	fl.Float64Var(&f.Clip, "clip", f.Clip, "clip gradients to this global norm (0: off)")
	fl.Uint64Var(&f.Seed, "seed", f.Seed, "random seed (adapter init, dropout, data order)")
}

// validate checks the ranges, and --ctx against the model when one is
// given (nil before loading).
func (f *optimFlags) validate(m *model.Model) error {
	maxCtx := train.MaxCtx
	if m != nil {
		maxCtx = m.CtxLen
	}
	return f.Check(maxCtx)
}

// scheduleFlags are the training loop's length, schedule and dev split
// (train.Config); withSteps false leaves --steps to the command (prune's
// --recover-steps).
type scheduleFlags struct {
	Steps, Accum, Warmup int
	MinLR, WeightDecay   float64
	DevFrac              float64
	EvalEvery, DevMax    int
}

func defaultScheduleFlags() scheduleFlags {
	d := app.FinetuneRequest{}.Default()
	return scheduleFlags{Steps: d.Loop.Steps, Accum: d.Loop.Accum, Warmup: d.Loop.Sched.Warmup, DevFrac: d.DevFrac, DevMax: d.Loop.DevMax}
}

func (f *scheduleFlags) register(fl *pflag.FlagSet, withSteps bool) {
	if withSteps {
		fl.IntVar(&f.Steps, "steps", f.Steps, "optimizer steps")
	}
	fl.IntVar(&f.Accum, "accum", f.Accum, "micro-batches per optimizer step")
	fl.IntVar(&f.Warmup, "warmup", f.Warmup, "linear warm-up steps")
	fl.Float64Var(&f.MinLR, "min-lr", f.MinLR, "final learning rate of the cosine decay (default lr/10)")
	fl.Float64Var(&f.WeightDecay, "weight-decay", f.WeightDecay, "AdamW decoupled weight decay")
	fl.Float64Var(&f.DevFrac, "dev-frac", f.DevFrac, "fraction of the data held out for the dev loss")
	fl.IntVar(&f.EvalEvery, "eval-every", f.EvalEvery, "dev loss every N steps (0: before and after only)")
	fl.IntVar(&f.DevMax, "dev-max", f.DevMax, "at most this many dev sequences")
}

func (f *scheduleFlags) validate(stepsFlag string) error {
	return valid.First(
		valid.Int(stepsFlag, f.Steps, 1, 1<<24),
		valid.Int("--accum", f.Accum, 1, 1<<16),
		valid.Int("--warmup", f.Warmup, 0, 1<<24),
		valid.Float("--min-lr", f.MinLR, valid.NonNegative),
		valid.Float("--weight-decay", f.WeightDecay, valid.NonNegative),
		valid.Float("--dev-frac", f.DevFrac, valid.HalfOpenUnit),
		valid.Int("--eval-every", f.EvalEvery, 0, 1<<24),
		valid.Int("--dev-max", f.DevMax, 0, 1<<24),
	)
}

// config is the train.Config of these flags (lr from the optimiser
// flags; minimum rate lr/10 unless given).
func (f *scheduleFlags) config(o optimFlags, ckpt string, resume bool) train.Config {
	minLR := f.MinLR
	if minLR == 0 {
		minLR = o.LR / 10
	}
	return train.Config{Steps: f.Steps, Accum: f.Accum, Sched: train.Schedule{LR: o.LR, MinLR: minLR, Warmup: f.Warmup},
		WeightDecay: f.WeightDecay, ClipNorm: o.Clip, EvalEvery: f.EvalEvery, DevMax: f.DevMax, Seed: o.Seed,
		Checkpointing: train.Checkpointing{Checkpoint: ckpt, CheckpointEvery: max(1, f.Steps/10), Resume: resume}}
}

// loadBase loads -m for pruning and returns the output's storage
// (--dtype, or the input's): an F16 base stays F16 (LoRAShear trains
// adapters over it and never needs a float32 copy), other matrices
// become F32; and it checks --ctx.
func loadBase(mf *modelFlags, tf *optimFlags) (*model.Model, tensor.DType, error) {
	if err := mf.checkDType(); err != nil {
		return nil, 0, err
	}
	base := *mf
	base.dtype, base.keepFloat = "f32", true
	m, err := base.load()
	if err != nil {
		return nil, 0, err
	}
	dt, err := mf.outputStorage(m)
	if err != nil {
		return nil, 0, err
	}
	return m, dt, tf.validate(m)
}

// loadF32 loads -m with float32 weights (pruning and recovery rewrite
// them), checks --ctx against the model's context, and returns the
// storage the output keeps (--dtype or the input's).
func loadF32(mf *modelFlags, tf *optimFlags) (*model.Model, tensor.DType, error) {
	m, dt, err := mf.loadAndStorage()
	if err != nil {
		return nil, 0, err
	}
	return m, dt, tf.validate(m)
}
