package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/train"
)

// recoveryFlags are the recovery options shared by `shear recover` and
// `shear lorashear`.
type recoveryFlags struct {
	distill, temp, lr float64
	lr2               float64
	full              bool
}

func (f *recoveryFlags) register(cmd *cobra.Command) {
	d := prune.DefaultRecover()
	fl := cmd.Flags()
	fl.Float64Var(&f.distill, "distill", d.Distill, "distill the dense model during recovery: loss (1−λ)·CE + λ·τ²·KL(dense ‖ pruned), λ = this (0: off)")
	fl.Float64Var(&f.temp, "distill-temp", d.DistillTemp, "distillation temperature τ")
	fl.BoolVar(&f.full, "recover-full", d.Full, "recover by training every kept weight (false: a fresh LoRA, as the paper)")
	fl.Float64Var(&f.lr, "recover-lr", 0, "recovery learning rate (default --lr)")
	fl.Float64Var(&f.lr2, "instruct-lr", 0, "peak learning rate of recovery stage 2, the instructions (default: a tenth of the stage 1 rate)")
}

// check validates the flags (before any long stage runs).
func (f *recoveryFlags) check() error {
	if f.distill < 0 || f.distill > 1 {
		return fmt.Errorf("--distill %g must be in [0, 1]", f.distill)
	}
	if !(f.temp > 0) {
		return fmt.Errorf("--distill-temp %g must be > 0", f.temp)
	}
	if f.lr < 0 || f.lr2 < 0 {
		return fmt.Errorf("--recover-lr %g and --instruct-lr %g must be ≥ 0", f.lr, f.lr2)
	}
	return nil
}

// apply sets the recovery options (their LR already from --lr).
func (f *recoveryFlags) apply(o *prune.RecoverOptions) error {
	if err := f.check(); err != nil {
		return err
	}
	o.Distill, o.DistillTemp, o.Full = f.distill, f.temp, f.full
	if f.lr > 0 {
		o.LR = f.lr
	}
	o.Stage2LR = o.LR / 10
	if f.lr2 > 0 {
		o.Stage2LR = f.lr2
	}
	return nil
}

func newRecover() *cobra.Command {
	var mf modelFlags
	var tf trainFlags
	var rf recoveryFlags
	var dense, out, reportDir string
	var stage1, stage2, subsetsK, every int
	var eta float64
	var uniform bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Dynamic knowledge recovery of a pruned model: weighted pretraining subsets, then instructions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dense == "" || out == "" {
				return errors.New("pass --dense DENSE.gguf and -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path, dense); err != nil {
				return err
			}
			if tf.data == "" && tf.instruct == "" {
				return errors.New("no recovery data: pass --data PATH and/or --instruct FILE.jsonl")
			}
			lc, err := tf.loraConfig()
			if err != nil {
				return err
			}
			if reportDir == "" {
				reportDir = out + ".recover"
			}
			if err := os.MkdirAll(reportDir, 0o755); err != nil {
				return err
			}
			mf.dtype = "f32"
			pm, err := mf.load()
			if err != nil {
				return err
			}
			df := modelFlags{path: dense, dtype: "f32"}
			dm, err := df.load()
			if err != nil {
				return err
			}
			if dm.Vocab != pm.Vocab {
				return fmt.Errorf("the dense model's vocabulary (%d) differs from the pruned model's (%d)", dm.Vocab, pm.Vocab)
			}
			var subs []prune.Subset
			if tf.data != "" {
				if subs, err = prune.TextSubsets(pm.Tok, tf.data, tf.ctx, subsetsK); err != nil {
					return err
				}
			}
			var ins []train.Example
			if tf.instruct != "" {
				if ins, err = train.LoadInstructions(pm.Tok, tf.instruct, tf.ctx); err != nil {
					return err
				}
			}
			ropt := prune.DefaultRecover()
			ropt.Stage1Steps, ropt.Stage2Steps, ropt.Batch, ropt.Ctx = stage1, stage2, tf.batch, tf.ctx
			if len(subs) == 0 {
				ropt.Stage1Steps = 0
			}
			if len(ins) == 0 {
				ropt.Stage2Steps = 0
			}
			ropt.LR, ropt.Clip, ropt.LoRA, ropt.Seed, ropt.Uniform, ropt.Eta = tf.lr, tf.clip, lc, tf.seed, uniform, eta
			ropt.EstimateEvery, ropt.Checkpoint, ropt.Resume = every, filepath.Join(reportDir, "recover.ckpt"), tf.resume
			if err := rf.apply(&ropt); err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			start := time.Now()
			bars := stageBars{}
			rep, err := prune.Recover(ctx, pm, dm, subs, ins, ropt, func(stage string, s train.StepInfo) {
				total := ropt.Stage1Steps
				if stage == "recover-2" {
					total = ropt.Stage2Steps
				}
				bars.update(stage, s.Step, total, s.Loss)
			})
			bars.finish()
			if err != nil {
				return stopped(ctx, err, reportDir)
			}
			if err := pm.Save(out); err != nil {
				return err
			}
			if err := writePipelineReport(reportDir, &prune.Report{Seconds: map[string]float64{}, Heads: pm.Heads, KVHeads: pm.KVHeads, FFN: pm.FFN}, rep, quality{}, quality{}, ""); err != nil {
				return err
			}
			os.Remove(filepath.Join(reportDir, "recover.ckpt.stage1"))
			os.Remove(filepath.Join(reportDir, "recover.ckpt.stage2"))
			res := map[string]any{"output": out, "seconds": time.Since(start).Seconds(), "subsets": rep.Subsets,
				"weights": rep.Weights, "stage1": rep.Stage1, "stage2": rep.Stage2}
			return emit(res, func() {
				fmt.Printf("recovered in %.0fs; stage 1 dev loss %.4f → %.4f", time.Since(start).Seconds(), rep.Stage1.DevLossBefore, rep.Stage1.DevLossAfter)
				if rep.Stage2 != nil {
					fmt.Printf("; stage 2 dev loss %.4f → %.4f", rep.Stage2.DevLossBefore, rep.Stage2.DevLossAfter)
				}
				fmt.Printf("\nwrote %s and %s/\n", out, reportDir)
			})
		},
	}
	mf.register(cmd)
	tf.register(cmd)
	rf.register(cmd)
	cmd.Flags().StringVar(&dense, "dense", "", "the dense model before pruning (the reference for δ_i)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output GGUF")
	cmd.Flags().StringVar(&reportDir, "report", "", "report directory (default OUTPUT.recover; holds checkpoints for --resume)")
	cmd.Flags().IntVar(&stage1, "recover-steps", 150, "stage 1 steps (pretraining-style subsets)")
	cmd.Flags().IntVar(&stage2, "instruct-steps", 50, "stage 2 steps (instructions)")
	cmd.Flags().IntVar(&subsetsK, "subsets", 4, "subsets a single --data file is cut into")
	cmd.Flags().IntVar(&every, "estimate-every", 25, "re-estimate subset losses every N steps")
	cmd.Flags().Float64Var(&eta, "eta", 3, "weight update rate η in w_i ← w_i·exp(η·max(δ_i, 0))")
	cmd.Flags().BoolVar(&uniform, "uniform", false, "fixed equal subset weights (no dynamic weighting)")
	return cmd
}
