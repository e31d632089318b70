package main

import (
	"errors"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/lora"
)

// recoveryFlags are the recovery options shared by `shear recover` and
// `shear lorashear`; their defaults are prune.DefaultRecover().
type recoveryFlags struct {
	Stage1, Stage2 int
	Subsets        int
	Uniform        bool
	Distill, Temp  float64
	LR, LR2        float64
	Full           bool
}

func defaultRecoveryFlags() recoveryFlags {
	d := prune.DefaultRecover()
	return recoveryFlags{Stage1: d.Stage1Steps, Stage2: d.Stage2Steps, Subsets: app.DynamicRecoverRequest{}.Default().Subsets, Uniform: d.Uniform,
		Distill: d.Distill, Temp: d.DistillTemp, Full: d.Full}
}

func (f *recoveryFlags) register(fl *pflag.FlagSet) {
	fl.IntVar(&f.Stage1, "recover-steps", f.Stage1, "recovery stage 1 steps (pretraining-style subsets)")
	fl.IntVar(&f.Stage2, "instruct-steps", f.Stage2, "recovery stage 2 steps (instructions)")
	fl.IntVar(&f.Subsets, "subsets", f.Subsets, "subsets a single --data file is cut into")
	fl.BoolVar(&f.Uniform, "uniform", f.Uniform, "fixed equal subset weights (no dynamic weighting)")
	fl.Float64Var(&f.Distill, "distill", f.Distill, "distill the dense model during recovery: loss (1−λ)·CE + λ·τ²·KL(dense ‖ pruned), λ = this (0: off)")
	fl.Float64Var(&f.Temp, "distill-temp", f.Temp, "distillation temperature τ")
	fl.BoolVar(&f.Full, "recover-full", f.Full, "recover by training every kept weight (false: a fresh LoRA, as the paper)")
	fl.Float64Var(&f.LR, "recover-lr", f.LR, "recovery learning rate (default --lr)")
	fl.Float64Var(&f.LR2, "instruct-lr", f.LR2, "peak learning rate of recovery stage 2, the instructions (default: a tenth of the stage 1 rate)")
}

// options builds and validates the recovery options (the one check of
// their ranges is prune.RecoverOptions.Validate).
func (f *recoveryFlags) options(tf *optimFlags, lc lora.Config, ckpt string, resume bool) (prune.RecoverOptions, error) {
	o := prune.DefaultRecover()
	o.Stage1Steps, o.Stage2Steps, o.Optim, o.LoRA, o.Uniform = f.Stage1, f.Stage2, tf.Optim, lc, f.Uniform
	o.Distill, o.DistillTemp, o.Full = f.Distill, f.Temp, f.Full
	o.Checkpoint, o.Resume = ckpt, resume
	if err := valid.First(valid.Float("--recover-lr", f.LR, valid.NonNegative), valid.Float("--instruct-lr", f.LR2, valid.NonNegative),
		valid.Int("--subsets", f.Subsets, 1, 1<<12)); err != nil {
		return o, err
	}
	if f.LR > 0 {
		o.LR = f.LR
	}
	o.Stage2LR = o.LR / 10
	if f.LR2 > 0 {
		o.Stage2LR = f.LR2
	}
	return o, o.Validate()
}

// recoverRequest is what `shear recover` reads from its flags.
type recoverRequest struct {
	Model         modelFlags
	Data          dataFlags
	LoRA          loraFlags
	Optim         optimFlags
	Recovery      recoveryFlags
	EstimateEvery int
	Eta           float64
	Resume        bool
	Dense, Output string
	Report        string
}

func defaultRecoverRequest() recoverRequest {
	d := prune.DefaultRecover()
	return recoverRequest{Model: defaultModelFlags(), LoRA: defaultLoRAFlags(), Optim: defaultOptimFlags(),
		Recovery: defaultRecoveryFlags(), EstimateEvery: d.EstimateEvery, Eta: d.Eta}
}

func newRecover() *cobra.Command {
	req := defaultRecoverRequest()
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Dynamic knowledge recovery of a pruned model: weighted pretraining subsets, then instructions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mf, tf := &req.Model, &req.Optim
			dense, out, reportDir := req.Dense, req.Output, req.Report
			if dense == "" || out == "" {
				return errors.New("pass --dense DENSE.gguf and -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path, dense); err != nil {
				return err
			}
			if err := checkOutputDir(out); err != nil {
				return err
			}
			lc, err := req.LoRA.config()
			if err != nil {
				return err
			}
			if reportDir == "" {
				reportDir = out + ".recover"
			}
			if err := tf.validate(nil); err != nil {
				return err
			}
			ropt, err := req.Recovery.options(tf, lc, filepath.Join(reportDir, "recover.ckpt"), req.Resume)
			if err != nil {
				return err
			}
			ropt.Eta, ropt.EstimateEvery = req.Eta, req.EstimateEvery
			if err := ropt.Validate(); err != nil {
				return err
			}
			pm, outDT, err := loadF32(mf, tf)
			if err != nil {
				return err
			}
			df := modelFlags{path: dense, dtype: "f32"}
			dm, err := df.load()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(reportDir, 0o755); err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			start := time.Now()
			bars := stageBars{}
			files, err := req.Data.orEmbedded(true)
			if err != nil {
				return err
			}
			r := app.DynamicRecoverRequest{Data: files, Subsets: req.Recovery.Subsets, Options: ropt}
			rep, err := app.RecoverDynamic(ctx, pm, dm, r, bars.update)
			bars.finish()
			if err != nil {
				removeIfEmpty(reportDir)
				return stopped(ctx, err, reportDir)
			}
			w, err := mf.writeModel(ctx, pm, outDT, out)
			if err != nil {
				return err
			}
			if err := writePipelineReport(reportDir, &prune.Report{Seconds: map[string]float64{}, Heads: pm.Heads, KVHeads: pm.KVHeads, FFN: pm.FFN}, rep, nil, protocol.Quality{}, protocol.Quality{}, ""); err != nil {
				return err
			}
			os.Remove(filepath.Join(reportDir, "recover.ckpt.stage1"))
			os.Remove(filepath.Join(reportDir, "recover.ckpt.stage2"))
			res := map[string]any{"output": out, "dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes, "seconds": time.Since(start).Seconds(), "subsets": rep.Subsets,
				"weights": rep.Weights, "stage1": rep.Stage1, "stage2": rep.Stage2}
			return emit(res, func() {
				fmt.Printf("recovered in %.0fs; stage 1 dev loss %.4f → %.4f", time.Since(start).Seconds(), rep.Stage1.DevLossBefore, rep.Stage1.DevLossAfter)
				if rep.Stage2 != nil {
					fmt.Printf("; stage 2 dev loss %.4f → %.4f", rep.Stage2.DevLossBefore, rep.Stage2.DevLossAfter)
				}
				fmt.Printf("\n%s\nwrote %s/\n", w, reportDir)
			})
		},
	}
	fl := cmd.Flags()
	req.Model.registerOutput(cmd)
	req.Data.register(fl)
	req.LoRA.register(fl)
	req.Optim.register(fl)
	req.Recovery.register(fl)
	fl.BoolVar(&req.Resume, "resume", req.Resume, "continue from the checkpoint in the report directory")
	fl.StringVar(&req.Dense, "dense", req.Dense, "the dense model before pruning (the reference for δ_i)")
	fl.StringVarP(&req.Output, "output", "o", req.Output, "output GGUF")
	fl.StringVar(&req.Report, "report", req.Report, "report directory (default OUTPUT.recover; holds checkpoints for --resume)")
	fl.IntVar(&req.EstimateEvery, "estimate-every", req.EstimateEvery, "re-estimate subset losses every N steps")
	fl.Float64Var(&req.Eta, "eta", req.Eta, "weight update rate η in w_i ← w_i·exp(η·max(δ_i, 0))")
	bindRequest(cmd, &req, defaultRecoverRequest())
	return cmd
}
