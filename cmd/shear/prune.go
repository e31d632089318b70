package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// pruneFlags are the flags of prune and lorashear.
type pruneFlags struct {
	target       float64
	kindTargets  string
	method       string
	calib        string
	hidden       bool
	gamma        float64
	variant      string
	noProjection bool
	noTransfer   bool
	warmup       int
	periods      int
	periodSteps  int
	epsilon      float64
	calibSeqs    int
	balanced     bool
	distill      float64
}

func (f *pruneFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Float64Var(&f.target, "target", 0.2, "fraction of all parameters to remove")
	fl.StringVar(&f.kindTargets, "kind-targets", "", "per-kind fractions of all parameters, e.g. attention=0.05,mlp=0.15")
	fl.StringVar(&f.method, "method", "lorashear", "lorashear, taylor, magnitude or random")
	fl.StringVar(&f.calib, "calib", "", "calibration text (default: a held-out part of --data)")
	fl.BoolVar(&f.hidden, "hidden", false, "also prune hidden (residual) channels")
	fl.Float64Var(&f.gamma, "gamma", 0.1, "knowledge analysis: fraction of most knowledgeable groups kept unprunable")
	fl.StringVar(&f.variant, "lhspg", "projection", "LHSPG variant: projection or decay")
	fl.BoolVar(&f.noProjection, "no-projection", false, "ablation: no half-space projection")
	fl.BoolVar(&f.noTransfer, "no-transfer", false, "ablation: no LoRA training during the pruning periods")
	fl.IntVar(&f.warmup, "lhspg-warmup", 20, "LHSPG warm-up steps")
	fl.IntVar(&f.periods, "periods", 4, "LHSPG periods")
	fl.IntVar(&f.periodSteps, "period-steps", 20, "steps per LHSPG period")
	fl.Float64Var(&f.epsilon, "epsilon", 0, "half-space projection ε")
	fl.IntVar(&f.calibSeqs, "calib-seqs", 8, "calibration sequences")
	fl.Float64Var(&f.distill, "lhspg-distill", 0, "distill the dense model during LHSPG training: loss (1−λ)·CE + λ·KL(dense ‖ pruned), λ = this (0: off; lorashear)")
	fl.BoolVar(&f.balanced, "balanced", true, "split the target over attention and MLP in proportion to their prunable parameters")
}

func parseKindTargets(s string) (map[string]float64, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || (k != "attention" && k != "mlp" && k != "hidden") {
			return nil, fmt.Errorf("--kind-targets: %q is not kind=fraction (kinds: attention, mlp, hidden)", part)
		}
		out[k] = f
	}
	return out, nil
}

func (f *pruneFlags) options(tf *trainFlags, lc lora.Config, ckpt string) (prune.Options, error) {
	kt, err := parseKindTargets(f.kindTargets)
	if err != nil {
		return prune.Options{}, err
	}
	if f.target <= 0 || f.target >= 1 {
		return prune.Options{}, fmt.Errorf("--target %v must be in (0, 1)", f.target)
	}
	cfg := prune.DefaultLHSPG()
	cfg.Warmup, cfg.Periods, cfg.PeriodSteps, cfg.Variant = f.warmup, f.periods, f.periodSteps, f.variant
	cfg.NoProjection, cfg.NoTransfer, cfg.Epsilon, cfg.Target, cfg.Balanced = f.noProjection, f.noTransfer, f.epsilon, f.target, f.balanced
	opt := prune.Options{Method: f.method, Target: f.target, KindTargets: kt, Hidden: f.hidden, Gamma: f.gamma,
		LHSPG: cfg, LoRA: lc, Batch: tf.batch, Ctx: tf.ctx, LR: tf.lr, Clip: tf.clip, Seed: tf.seed,
		Checkpoint: ckpt, CheckpointEvery: 20, Resume: tf.resume, Distill: f.distill, DistillTemp: 1}
	if f.distill < 0 || f.distill > 1 {
		return opt, fmt.Errorf("--lhspg-distill %g must be in [0, 1]", f.distill)
	}
	if opt.Method == "lorashear" {
		if err := cfg.Validate(); err != nil {
			return opt, err
		}
	}
	return opt, nil
}

// pruneData loads training examples (text and instructions) and the
// calibration set: --calib, or sequences held out of the text.
func pruneData(m *model.Model, tf *trainFlags, pf *pruneFlags) (prune.Data, error) {
	var d prune.Data
	if tf.data == "" && tf.instruct == "" {
		return d, errors.New("no training data: pass --data PATH and/or --instruct FILE.jsonl")
	}
	var text []train.Example
	if tf.data != "" {
		ex, err := train.LoadText(m.Tok, tf.data, tf.ctx)
		if err != nil {
			return d, err
		}
		text = ex
	}
	if pf.calib != "" {
		ex, err := train.LoadText(m.Tok, pf.calib, tf.ctx)
		if err != nil {
			return d, err
		}
		d.Calib = ex[:min(len(ex), pf.calibSeqs)]
	} else if len(text) > pf.calibSeqs {
		rest, calib := train.Split(text, float64(pf.calibSeqs)/float64(len(text)), tf.seed+7)
		text, d.Calib = rest, calib
	}
	d.Train = text
	if tf.instruct != "" {
		ex, err := train.LoadInstructions(m.Tok, tf.instruct, tf.ctx)
		if err != nil {
			return d, err
		}
		d.Train = append(d.Train, ex...)
		if len(d.Calib) == 0 {
			d.Calib = ex[:min(len(ex), pf.calibSeqs)]
		}
	}
	return d, nil
}

// writePruneReport writes report.json and the plots into dir.
func writePruneReport(dir string, rep *prune.Report, extra map[string]any) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	doc := map[string]any{"report": rep}
	for k, v := range extra {
		doc[k] = v
	}
	js, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var steps, loss, sparsity []float64
	for _, s := range rep.Log {
		steps, loss, sparsity = append(steps, float64(s.Step)), append(loss, s.Loss), append(sparsity, s.Sparsity)
	}
	if len(steps) > 0 {
		if err := savePlot(filepath.Join(dir, "loss.png"), "pruning loss", "step", "loss", series{"loss", steps, loss}); err != nil {
			return err
		}
		if err := savePlot(filepath.Join(dir, "sparsity.png"), "group sparsity", "step", "fraction of groups exactly zero", series{"sparsity", steps, sparsity}); err != nil {
			return err
		}
	}
	var layers, heads, ffn []float64
	for l := range rep.FFN {
		layers = append(layers, float64(l))
		heads = append(heads, float64(rep.Heads[l]))
		ffn = append(ffn, float64(rep.FFN[l]))
	}
	return savePlot(filepath.Join(dir, "widths.png"), "kept width per layer", "layer", "width",
		series{"query heads", layers, heads}, series{"FFN channels", layers, ffn})
}

func newPrune() *cobra.Command {
	var mf modelFlags
	var ef engineFlags
	var tf trainFlags
	var pf pruneFlags
	var out, reportDir string
	var recoverSteps int
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Structurally prune a model (LoRAShear or a baseline), recover, and write the smaller GGUF",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("no output: pass -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path); err != nil {
				return err
			}
			if recoverSteps < 0 {
				return fmt.Errorf("--recover-steps %d must be ≥ 0", recoverSteps)
			}
			lc, err := tf.loraConfig()
			if err != nil {
				return err
			}
			work := reportDir
			if work == "" {
				work = out + ".work"
			}
			if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			opt, err := pf.options(&tf, lc, filepath.Join(work, "prune.ckpt"))
			if err != nil {
				return err
			}
			mf.dtype = "f32"
			m, err := mf.load()
			if err != nil {
				return err
			}
			data, err := pruneData(m, &tf, &pf)
			if err != nil {
				return err
			}
			start := time.Now()
			ctx, stop := interruptible()
			defer stop()
			if ef.wasm() {
				if pf.distill > 0 {
					return errors.New("--lhspg-distill runs natively only (not with --engine wasm)")
				}
				return pruneWasm(ctx, &ef, &mf, opt, data, &tf, lc, recoverSteps, out, reportDir, work, start)
			}
			bars := stageBars{}
			cm, rep, err := prune.Prune(ctx, m, opt, data, bars.update)
			bars.finish()
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; rerun with --resume to continue from %s", work)
				}
				return err
			}
			var recov *train.Result
			if recoverSteps > 0 {
				t0 := time.Now()
				rtf := tf
				rtf.steps, rtf.resume = recoverSteps, tf.resume
				res, err := recoverPlain(ctx, cm, &rtf, lc, data.Train, filepath.Join(work, "recover.ckpt"))
				if err != nil {
					return stopped(ctx, err, work)
				}
				recov = &res
				rep.Seconds["recover"] = time.Since(t0).Seconds()
			}
			if err := cm.Save(out); err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			rep.Seconds["total"] = secs
			extra := map[string]any{"output": out}
			if recov != nil {
				extra["recovery"] = recov
			}
			if err := writePruneReport(reportDir, rep, extra); err != nil {
				return err
			}
			if reportDir == "" {
				os.RemoveAll(work)
			} else {
				os.Remove(filepath.Join(work, "prune.ckpt"))
				os.Remove(filepath.Join(work, "recover.ckpt"))
			}
			res := map[string]any{"params_before": rep.ParamsBefore, "params_after": rep.ParamsAfter, "ratio": rep.Ratio,
				"seconds": secs, "method": rep.Method, "output": out, "heads": rep.Heads, "kv_heads": rep.KVHeads, "ffn": rep.FFN}
			return emit(res, func() {
				fmt.Printf("%s: %d → %d parameters (%.1f%% removed) in %.1fs; wrote %s\n", rep.Method, rep.ParamsBefore, rep.ParamsAfter, 100*rep.Ratio, secs, out)
				fmt.Printf("per layer: heads %v, kv heads %v, ffn %v\n", rep.Heads, rep.KVHeads, rep.FFN)
			})
		},
	}
	mf.register(cmd)
	ef.register(cmd)
	tf.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "output GGUF")
	cmd.Flags().StringVar(&reportDir, "report", "", "directory for report.json and plots (also keeps checkpoints for --resume)")
	cmd.Flags().IntVar(&recoverSteps, "recover-steps", 0, "LoRA recovery steps after pruning (same budget for every method)")
	return cmd
}

// recoverPlain fine-tunes a fresh LoRA on examples and merges it.
func recoverPlain(ctx context.Context, m *model.Model, tf *trainFlags, lc lora.Config, examples []train.Example, ckpt string) (train.Result, error) {
	tr, err := train.New(m, train.Options{LoRA: lc, Batch: tf.batch, Ctx: tf.ctx, Seed: tf.seed + 1})
	if err != nil {
		return train.Result{}, err
	}
	trainEx, devEx := train.Split(examples, tf.devFrac, tf.seed)
	p, onStep := trainProgress("recover", tf.steps)
	res, err := train.Run(ctx, tr, trainEx, devEx, tf.config(ckpt), onStep)
	p.finish()
	if err != nil {
		return res, err
	}
	return res, tr.Adapter.Merge(m)
}

func newAnalyze() *cobra.Command {
	var mf modelFlags
	var calib, out string
	var gamma float64
	var ctx, seqs int
	var hidden bool
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Knowledge distribution analysis: loss deviation of removing each group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if calib == "" || out == "" {
				return errors.New("pass --calib PATH and -o DIR")
			}
			mf.dtype = "f32"
			m, err := mf.load()
			if err != nil {
				return err
			}
			ex, err := train.LoadText(m.Tok, calib, ctx)
			if err != nil {
				return err
			}
			ex = ex[:min(len(ex), seqs)]
			g := graph.Build(m, graph.Options{Hidden: hidden})
			p := newProgress("analyze", 1)
			a, err := prune.Analyze(m, g, ex, gamma, p.update)
			p.finish()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			means := a.LayerKindMeans(g)
			js, _ := json.MarshalIndent(map[string]any{"analysis": a, "layer_kind_mean": means}, "", " ")
			if err := os.WriteFile(filepath.Join(out, "analysis.json"), append(js, '\n'), 0o644); err != nil {
				return err
			}
			if err := saveHeatmap(filepath.Join(out, "heatmap.png"), "mean loss deviation Δ_g (layer × kind)", means); err != nil {
				return err
			}
			return emit(map[string]any{"base_loss": a.BaseLoss, "groups": len(a.Deviation), "unprunable": len(a.Unprunable), "layer_kind_mean": means, "output": out}, func() {
				fmt.Printf("base loss %.4f; %d groups probed; %d marked unprunable (γ = %g); wrote %s\n", a.BaseLoss, len(a.Deviation), len(a.Unprunable), gamma, out)
				for k, v := range means {
					fmt.Printf("  %-9s %v\n", k, v)
				}
			})
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVar(&calib, "calib", "", "calibration text file or directory")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output directory")
	cmd.Flags().Float64Var(&gamma, "gamma", 0.1, "fraction of groups marked unprunable")
	cmd.Flags().IntVar(&ctx, "ctx", 128, "tokens per calibration sequence")
	cmd.Flags().IntVar(&seqs, "calib-seqs", 8, "calibration sequences")
	cmd.Flags().BoolVar(&hidden, "hidden", false, "include hidden channels")
	return cmd
}
