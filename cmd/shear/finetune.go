package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// trainFlags are the data, optimiser and LoRA flags shared by finetune
// and the pruning commands.
type trainFlags struct {
	data, instruct    string
	rank              int
	alpha, dropout    float32
	targets           string
	full              bool
	steps, batch, ctx int
	accum, warmup     int
	lr, minLR, wd     float64
	clip              float64
	devFrac           float64
	evalEvery, devMax int
	seed              uint64
	resume            bool
}

func (f *trainFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "plain text file or directory of text files")
	fl.StringVar(&f.instruct, "instruct", "", "instruction JSONL (Alpaca fields instruction/input/output)")
	fl.IntVar(&f.rank, "lora-rank", 8, "LoRA rank")
	fl.Float32Var(&f.alpha, "lora-alpha", 16, "LoRA alpha (scale = alpha/rank)")
	fl.Float32Var(&f.dropout, "lora-dropout", 0.05, "LoRA dropout")
	fl.StringVar(&f.targets, "targets", "q,k,v,o,gate,up,down", "LoRA target projections")
	fl.BoolVar(&f.full, "full", false, "train every weight instead of LoRA adapters")
	fl.IntVar(&f.steps, "steps", 100, "optimizer steps")
	fl.IntVar(&f.batch, "batch", 8, "sequences per micro-batch")
	fl.IntVar(&f.ctx, "ctx", 128, "tokens per sequence")
	fl.IntVar(&f.accum, "accum", 1, "micro-batches per optimizer step")
	fl.IntVar(&f.warmup, "warmup", 10, "linear warm-up steps")
	fl.Float64Var(&f.lr, "lr", 1e-3, "peak learning rate")
	fl.Float64Var(&f.minLR, "min-lr", 0, "final learning rate of the cosine decay (default lr/10)")
	fl.Float64Var(&f.wd, "weight-decay", 0, "AdamW decoupled weight decay")
	fl.Float64Var(&f.clip, "clip", 1, "clip gradients to this global norm (0: off)")
	fl.Float64Var(&f.devFrac, "dev-frac", 0.1, "fraction of the data held out for the dev loss")
	fl.IntVar(&f.evalEvery, "eval-every", 0, "dev loss every N steps (0: before and after only)")
	fl.IntVar(&f.devMax, "dev-max", 512, "at most this many dev sequences")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed (adapter init, dropout, data order)")
	fl.BoolVar(&f.resume, "resume", false, "continue from the checkpoint in the output directory")
}

func (f *trainFlags) validate() error {
	switch {
	case f.data == "" && f.instruct == "":
		return errors.New("no training data: pass --data PATH and/or --instruct FILE.jsonl")
	case f.steps < 1, f.batch < 1, f.accum < 1:
		return errors.New("--steps, --batch and --accum must be ≥ 1")
	case f.ctx < 8:
		return fmt.Errorf("--ctx %d must be ≥ 8", f.ctx)
	case !(f.lr > 0) || math.IsInf(f.lr, 0):
		return fmt.Errorf("--lr %v must be a positive number", f.lr)
	case f.devFrac < 0 || f.devFrac >= 1:
		return fmt.Errorf("--dev-frac %v must be in [0, 1)", f.devFrac)
	case f.warmup < 0 || f.wd < 0 || f.clip < 0:
		return errors.New("--warmup, --weight-decay and --clip must be ≥ 0")
	}
	return nil
}

func (f *trainFlags) loraConfig() (lora.Config, error) {
	ts, err := lora.ParseTargets(f.targets)
	if err != nil {
		return lora.Config{}, err
	}
	c := lora.Config{Rank: f.rank, Alpha: f.alpha, Dropout: f.dropout, Targets: ts}
	return c, c.Validate()
}

// examples loads and splits the data the flags name.
func (f *trainFlags) examples(m *model.Model) (trainEx, devEx []train.Example, err error) {
	var all []train.Example
	if f.data != "" {
		ex, err := train.LoadText(m.Tok, f.data, f.ctx)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, ex...)
	}
	if f.instruct != "" {
		ex, err := train.LoadInstructions(m.Tok, f.instruct, f.ctx)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, ex...)
	}
	trainEx, devEx = train.Split(all, f.devFrac, f.seed)
	if len(trainEx) == 0 {
		return nil, nil, errors.New("the data leaves no training sequence after the dev split")
	}
	return trainEx, devEx, nil
}

func (f *trainFlags) config(ckpt string) train.Config {
	minLR := f.minLR
	if minLR == 0 {
		minLR = f.lr / 10
	}
	return train.Config{Steps: f.steps, Accum: f.accum, Sched: train.Schedule{LR: f.lr, MinLR: minLR, Warmup: f.warmup},
		WeightDecay: f.wd, ClipNorm: f.clip, EvalEvery: f.evalEvery, DevMax: f.devMax, Seed: f.seed,
		CheckpointPath: ckpt, CheckpointEvery: max(1, f.steps/10), Resume: f.resume}
}

// interruptible returns a context cancelled by Ctrl-C, so long runs stop
// after writing a checkpoint.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// trainProgress shows step, loss, tokens/s and ETA.
func trainProgress(what string, steps int) (*progress, func(train.StepInfo)) {
	p := newProgress(what, steps)
	return p, func(s train.StepInfo) {
		if p.bar != nil {
			p.bar.Describe(fmt.Sprintf("%s loss %.4f lr %.2e", what, s.Loss, s.LR))
		}
		p.update(s.Step, steps)
	}
}

// writeLossLog writes the JSONL loss log and the PNG loss curve.
func writeLossLog(dir string, log []train.StepInfo) error {
	var b strings.Builder
	var steps, loss, devSteps, dev []float64
	for _, s := range log {
		js, _ := json.Marshal(s)
		b.Write(js)
		b.WriteByte('\n')
		steps, loss = append(steps, float64(s.Step)), append(loss, s.Loss)
		if s.DevLoss != 0 {
			devSteps, dev = append(devSteps, float64(s.Step)), append(dev, s.DevLoss)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "loss.jsonl"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return savePlot(filepath.Join(dir, "loss.png"), "training loss", "step", "loss",
		series{"train", steps, loss}, series{"dev", devSteps, dev})
}

func newFinetune() *cobra.Command {
	var mf modelFlags
	var tf trainFlags
	var out, adapterDType string
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Fine-tune a model with LoRA adapters (or all weights with --full)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tf.validate(); err != nil {
				return err
			}
			if out == "" {
				return errors.New("no output directory: pass -o OUTDIR")
			}
			if err := checkOutput(filepath.Join(out, "model.gguf"), mf.path); err != nil {
				return err
			}
			if adapterDType != "f16" && adapterDType != "f32" {
				return fmt.Errorf("--adapter-dtype %q must be f16 or f32", adapterDType)
			}
			lc, err := tf.loraConfig()
			if err != nil {
				return err
			}
			if tf.full {
				mf.dtype = "f32"
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			srcType := m.Embed.DType
			trainEx, devEx, err := tf.examples(m)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			tr, err := train.New(m, train.Options{Full: tf.full, LoRA: lc, Batch: tf.batch, Ctx: tf.ctx, Seed: tf.seed})
			if err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			p, onStep := trainProgress("finetune", tf.steps)
			res, err := train.Run(ctx, tr, trainEx, devEx, tf.config(filepath.Join(out, "checkpoint.bin")), onStep)
			p.finish()
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; the checkpoint in %s resumes with --resume", out)
				}
				return err
			}
			if err := writeLossLog(out, res.Log); err != nil {
				return err
			}
			merged := filepath.Join(out, "model.gguf")
			if tr.Adapter != nil {
				dt := map[string]string{"f16": "F16", "f32": "F32"}[adapterDType]
				if err := hf.SaveAdapter(tr.Adapter, m, filepath.Join(out, "adapter"), dt, mf.path); err != nil {
					return err
				}
				if err := tr.Adapter.Merge(m); err != nil {
					return err
				}
			} else if srcType != tensor.F32 {
				// Full training ran on an f32 master copy; store as the source was.
				if err := m.Convert(srcType); err != nil {
					return err
				}
			}
			if err := m.Save(merged); err != nil {
				return err
			}
			os.Remove(filepath.Join(out, "checkpoint.bin"))
			result := map[string]any{"steps": res.Steps, "dev_loss_before": res.DevLossBefore, "dev_loss_after": res.DevLossAfter,
				"tokens_per_s": res.TokensPerS, "train_sequences": len(trainEx), "dev_sequences": len(devEx), "output": out}
			return emit(result, func() {
				fmt.Printf("%d steps, dev loss %.4f → %.4f, %.0f tokens/s\nwrote %s", res.Steps, res.DevLossBefore, res.DevLossAfter, res.TokensPerS, merged)
				if tr.Adapter != nil {
					fmt.Printf(", %s", filepath.Join(out, "adapter"))
				}
				fmt.Printf(", loss.jsonl, loss.png\n")
			})
		},
	}
	mf.register(cmd)
	tf.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "output directory (adapter/, model.gguf, loss.jsonl, loss.png)")
	cmd.Flags().StringVar(&adapterDType, "adapter-dtype", "f16", "adapter tensor type: f16 or f32")
	return cmd
}

func newMerge() *cobra.Command {
	var mf modelFlags
	var adapter, out string
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Merge a PEFT LoRA adapter into a model and write GGUF",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if adapter == "" || out == "" {
				return errors.New("pass --adapter DIR and -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path, adapter); err != nil {
				return err
			}
			f, err := mf.file()
			if err != nil {
				return err
			}
			// Keep the source's storage so the merged file matches it.
			mf.dtype = map[uint32]string{0: "f32", 1: "f16", 7: "q8_0", 2: "q4_0"}[fileTypeOf(f)]
			m, err := mf.load()
			if err != nil {
				return err
			}
			a, err := hf.LoadAdapter(adapter, m)
			if err != nil {
				return err
			}
			if err := a.Merge(m); err != nil {
				return err
			}
			if err := m.Save(out); err != nil {
				return err
			}
			return emit(map[string]any{"output": out, "params": m.Params(), "adapter_params": a.Params()}, func() {
				fmt.Printf("merged %d adapter parameters into %s\n", a.Params(), out)
			})
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVar(&adapter, "adapter", "", "PEFT adapter directory")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output GGUF")
	return cmd
}

func fileTypeOf(f *gguf.File) uint32 {
	if v, ok := f.Int("general.file_type"); ok {
		if _, known := map[int64]bool{0: true, 1: true, 7: true, 2: true}[v]; known {
			return uint32(v)
		}
	}
	if t, ok := f.Tensor("token_embd.weight"); ok && t.Type == gguf.F32 {
		return 0
	}
	return 1
}
