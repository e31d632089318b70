package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/runtime/train"
)

// interruptible returns a context cancelled by Ctrl-C, so long runs stop
// after writing a checkpoint.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// plotLoss draws loss.png, the training and dev loss curves.
func plotLoss(dir string, log []train.StepInfo) error {
	var steps, loss, devSteps, dev []float64
	for _, s := range log {
		steps, loss = append(steps, float64(s.Step)), append(loss, s.Loss)
		if s.DevLoss != 0 {
			devSteps, dev = append(devSteps, float64(s.Step)), append(dev, s.DevLoss)
		}
	}
	return saveLossPlot(filepath.Join(dir, "loss.png"), "training loss", steps, loss, devSteps, dev)
}

// finetuneRequest is what `shear finetune` reads from its flags.
type finetuneRequest struct {
	Model        modelFlags
	Data         dataFlags
	LoRA         loraFlags
	Optim        optimFlags
	Schedule     scheduleFlags
	Full, Resume bool
	Output       string
	AdapterDType string
}

func defaultFinetune() finetuneRequest {
	return finetuneRequest{Model: defaultModelFlags(), LoRA: defaultLoRAFlags(), Optim: defaultOptimFlags(),
		Schedule: defaultScheduleFlags(), AdapterDType: app.FinetuneRequest{}.Default().AdapterDType}
}

// request checks the flags and builds the application's request.
func (req *finetuneRequest) request() (app.FinetuneRequest, error) {
	tf := &req.Optim
	data, err := req.Data.orEmbedded(false)
	if err != nil {
		return app.FinetuneRequest{}, err
	}
	if err := valid.First(tf.validate(nil), req.Schedule.validate("--steps")); err != nil {
		return app.FinetuneRequest{}, err
	}
	lc, err := req.LoRA.config()
	if err != nil {
		return app.FinetuneRequest{}, err
	}
	r := app.FinetuneRequest{Data: data, Full: req.Full, LoRA: lc, Batch: tf.Batch, Ctx: tf.Ctx, Seed: tf.Seed,
		DevFrac: req.Schedule.DevFrac, Loop: req.Schedule.config(*tf, "", req.Resume), Output: req.Output,
		AdapterDType: req.AdapterDType, Source: req.Model.path, Storage: req.Model.dtype}
	return r, r.Validate()
}

func newFinetune() *cobra.Command {
	req := defaultFinetune()
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Fine-tune a model with LoRA adapters (or all weights with --full)",
		Long: `Fine-tune a model with LoRA adapters (or all weights with --full) and write,
into the directory -o, the PEFT adapter (adapter/), the merged model
(model.gguf, in the input's storage unless --dtype), loss.jsonl and loss.png.
Without --data and --instruct, the embedded Austen instructions.`,
		Example: `  shear finetune -o ft/                           # the embedded model and instructions
  shear finetune -m model.gguf --instruct data.jsonl --steps 200 -o ft/
  shear merge -m model.gguf --adapter ft/ -o merged.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mf, tf := &req.Model, &req.Optim
			r, err := req.request()
			if err != nil {
				return err
			}
			// finetune creates OUTDIR; only the identity of its model.gguf with the input matters here.
			if err := safefile.CheckOutput(filepath.Join(r.Output, "model.gguf"), mf.path); err != nil {
				return err
			}
			// LoRA trains over frozen f16 weights (f32 with --dtype f32; a
			// quantized file too); full training updates an f32 master copy.
			base := *mf
			if base.dtype != "f32" {
				base.dtype = "f16"
			}
			if req.Full {
				base.dtype = "f32"
			}
			if err := mf.checkDType(); err != nil {
				return err
			}
			m, err := base.load()
			if err != nil {
				return err
			}
			if err := tf.validate(m); err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			bars := stageBars{}
			res, err := app.Finetune(ctx, m, r, bars.update)
			bars.finish()
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; the checkpoint in %s resumes with --resume", r.Output)
				}
				return err
			}
			if err := plotLoss(r.Output, res.Log); err != nil {
				return err
			}
			w := mf.wrote(m, res.Model)
			result := map[string]any{"steps": res.Steps, "dev_loss_before": res.DevLossBefore, "dev_loss_after": res.DevLossAfter,
				"tokens_per_s": res.TokensPerS, "train_sequences": res.TrainSequences, "dev_sequences": res.DevSequences, "output": res.Output,
				"model": res.Model, "adapter": res.Adapter, "dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes}
			return emit(result, func() {
				fmt.Printf("%d steps, dev loss %.4f → %.4f, %.0f tokens/s\n%s\n", res.Steps, res.DevLossBefore, res.DevLossAfter, res.TokensPerS, w)
				files := []string{filepath.Join(r.Output, "loss.jsonl"), filepath.Join(r.Output, "loss.png")}
				if res.Adapter != "" {
					files = append([]string{res.Adapter + string(filepath.Separator)}, files...)
				}
				fmt.Printf("wrote %s\n", strings.Join(files, ", "))
			})
		},
	}
	fl := cmd.Flags()
	req.Model.register(cmd)
	cmd.Flags().Lookup("dtype").Usage = "storage of model.gguf: f32, f16, q8_0 or q4_0 (default: the input's); LoRA trains over f16 weights, f32 with --dtype f32"
	req.Data.register(fl)
	req.LoRA.register(fl)
	req.Optim.register(fl)
	req.Schedule.register(fl, true)
	fl.BoolVar(&req.Full, "full", req.Full, "train every weight instead of LoRA adapters")
	fl.BoolVar(&req.Resume, "resume", req.Resume, "continue from the checkpoint in the output directory")
	fl.StringVarP(&req.Output, "output", "o", req.Output, "output directory (adapter/, model.gguf, loss.jsonl, loss.png)")
	fl.StringVar(&req.AdapterDType, "adapter-dtype", req.AdapterDType, "adapter tensor type: f16 or f32")
	bindRequest(cmd, &req, defaultFinetune())
	return cmd
}
