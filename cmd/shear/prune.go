package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// pruneFlags are the pruning flags of prune and lorashear; their
// defaults are prune.DefaultOptions().
type pruneFlags struct {
	Target       float64
	KindTargets  string
	AllowEmpty   bool
	Method       string
	Calib        string
	Hidden       bool
	Gamma        float64
	Variant      string
	NoProjection bool
	NoTransfer   bool
	Warmup       int
	Periods      int
	PeriodSteps  int
	Epsilon      float64
	CalibSeqs    int
	Balanced     bool
	Distill      float64
	Memory       string
	Confirm      int
}

func defaultPruneFlags() pruneFlags {
	o := prune.DefaultOptions()
	c := o.LHSPG
	return pruneFlags{Target: o.Target, Method: o.Method, Hidden: o.Hidden, Gamma: o.Gamma, Variant: c.Variant,
		NoProjection: c.NoProjection, NoTransfer: c.NoTransfer, Warmup: c.Warmup, Periods: c.Periods, PeriodSteps: c.PeriodSteps,
		Epsilon: c.Epsilon, CalibSeqs: app.LoRAShearRequest{}.Default().CalibSeqs, Balanced: c.Balanced, Distill: o.Distill, Confirm: o.Confirm}
}

// register adds the flags; withMethod false fixes the method (lorashear).
func (f *pruneFlags) register(fl *pflag.FlagSet, withMethod bool) {
	fl.Float64Var(&f.Target, "target", f.Target, "fraction of all parameters to remove")
	fl.StringVar(&f.KindTargets, "kind-targets", f.KindTargets, "per-kind fractions of all parameters, e.g. attention=0.05,mlp=0.15")
	fl.BoolVar(&f.AllowEmpty, "allow-empty", f.AllowEmpty, "allow a target that removes every head or every FFN channel")
	if withMethod {
		fl.StringVar(&f.Method, "method", f.Method, "pruning method: "+strings.Join(prune.Methods, ", ")+" (docs/ALGORITHM.md, Baselines)")
	}
	fl.StringVar(&f.Calib, "calib", f.Calib, "calibration text (default: a held-out part of --data)")
	fl.BoolVar(&f.Hidden, "hidden", f.Hidden, "also prune hidden (residual) channels")
	fl.Float64Var(&f.Gamma, "gamma", f.Gamma, "knowledge analysis: fraction of most knowledgeable groups kept unprunable")
	fl.StringVar(&f.Variant, "lhspg", f.Variant, "LHSPG variant: projection or decay")
	fl.BoolVar(&f.NoProjection, "no-projection", f.NoProjection, "ablation: no half-space projection")
	fl.BoolVar(&f.NoTransfer, "no-transfer", f.NoTransfer, "ablation: no LoRA training during the pruning periods")
	fl.IntVar(&f.Warmup, "lhspg-warmup", f.Warmup, "LHSPG warm-up steps")
	fl.IntVar(&f.Periods, "periods", f.Periods, "LHSPG periods")
	fl.IntVar(&f.PeriodSteps, "period-steps", f.PeriodSteps, "steps per LHSPG period")
	fl.Float64Var(&f.Epsilon, "epsilon", f.Epsilon, "half-space projection ε")
	fl.IntVar(&f.CalibSeqs, "calib-seqs", f.CalibSeqs, "calibration sequences")
	fl.Float64Var(&f.Distill, "lhspg-distill", f.Distill, "distill the dense model during LHSPG training: loss (1−λ)·CE + λ·KL(dense ‖ pruned), λ = this (0: off; lorashear)")
	fl.BoolVar(&f.Balanced, "balanced", f.Balanced, "split the target over attention and MLP in proportion to their prunable parameters")
	fl.StringVar(&f.Memory, "memory", f.Memory, "memory budget, e.g. 6GiB or 800MB (default: 3/4 of physical RAM; 0: none): full-rank recovery falls back to LoRA when it would not fit, and a stage that fits neither way fails before it starts")
	fl.IntVar(&f.Confirm, "confirm", f.Confirm, "knowledge analysis: groups nearest the top-γ boundary probed exactly after the Taylor estimate of all (-1: probe every group)")
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

// options builds and validates prune.Options (the one check of their
// ranges is prune.Options.Validate).
func (f *pruneFlags) options(tf *optimFlags, lc lora.Config, ckpt string, resume bool) (prune.Options, error) {
	kt, err := parseKindTargets(f.KindTargets)
	if err != nil {
		return prune.Options{}, err
	}
	opt := prune.DefaultOptions()
	cfg := &opt.LHSPG
	cfg.Warmup, cfg.Periods, cfg.PeriodSteps, cfg.Variant = f.Warmup, f.Periods, f.PeriodSteps, f.Variant
	cfg.NoProjection, cfg.NoTransfer, cfg.Epsilon, cfg.Balanced = f.NoProjection, f.NoTransfer, f.Epsilon, f.Balanced
	opt.Method, opt.Target, opt.KindTargets, opt.AllowEmpty, opt.Hidden, opt.Gamma = f.Method, f.Target, kt, f.AllowEmpty, f.Hidden, f.Gamma
	opt.LoRA, opt.Optim = lc, tf.Optim
	opt.Checkpoint, opt.Resume, opt.Distill = ckpt, resume, f.Distill
	if err := valid.First(valid.Int("--calib-seqs", f.CalibSeqs, 1, 1<<16), valid.Int("--confirm", f.Confirm, prune.ProbeAll, 1<<30)); err != nil {
		return opt, err
	}
	opt.Confirm = f.Confirm
	budget, err := memoryBudget(f.Memory)
	if err != nil {
		return opt, err
	}
	opt.Memory = budget
	return opt, opt.Validate()
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
	return savePruneReportPlots(dir, rep)
}

// pruneRequest is what `shear prune` reads from its flags. Recovery
// (--recover-steps > 0) is plain LoRA fine-tuning with Schedule's loop.
type pruneRequest struct {
	Model        modelFlags
	Engine       engineFlags
	Data         dataFlags
	LoRA         loraFlags
	Optim        optimFlags
	Prune        pruneFlags
	Schedule     scheduleFlags // of the recovery (its Steps are RecoverSteps)
	RecoverSteps int
	Resume       bool
	Output       string
	Report       string
}

// defaultPrune is a complete run: pruning, then as many recovery steps
// as lorashear's two recovery stages take (a pruned model written before
// any recovery is much worse: ppl 27.46 against 7.22 after 200 steps).
func defaultPrune() pruneRequest {
	r := prune.DefaultRecover()
	return pruneRequest{Model: defaultModelFlags(), Engine: defaultEngineFlags(), LoRA: defaultLoRAFlags(), Optim: defaultOptimFlags(),
		Prune: defaultPruneFlags(), Schedule: defaultScheduleFlags(), RecoverSteps: r.Stage1Steps + r.Stage2Steps}
}

func newPrune() *cobra.Command {
	req := defaultPrune()
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Structurally prune a model (LoRAShear or a baseline), recover, and write the smaller GGUF",
		Long: `Structurally prune a model by --target of its parameters (LoRAShear, or one of
the baselines of --method), recover it with --recover-steps of
plain LoRA fine-tuning (130 by default, lorashear's budget; 0 skips it), and
write the smaller dense model in the input's storage (--dtype for another).
Without --data and --instruct, the embedded Austen texts and instructions.`,
		Example: `  shear prune -o pruned.gguf                       # the embedded model and data
  shear prune -m model.gguf --target 0.2 --data text.txt --instruct data.jsonl -o pruned.gguf --report report/
  shear prune -m model.gguf --method magnitude --recover-steps 0 -o quick.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mf, ef, tf, pf := &req.Model, &req.Engine, &req.Optim, &req.Prune
			out, reportDir := req.Output, req.Report
			if out == "" {
				return errors.New("no output: pass -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path); err != nil {
				return err
			}
			if err := checkOutputDir(out); err != nil {
				return err
			}
			if err := valid.Int("--recover-steps", req.RecoverSteps, 0, 1<<24); err != nil {
				return err
			}
			if req.RecoverSteps > 0 {
				sch := req.Schedule
				sch.Steps = req.RecoverSteps
				if err := sch.validate("--recover-steps"); err != nil {
					return err
				}
			}
			if err := valid.First(ef.validate(), tf.validate(nil)); err != nil {
				return err
			}
			lc, err := req.LoRA.config()
			if err != nil {
				return err
			}
			work := reportDir
			if work == "" {
				work = out + ".work"
			}
			opt, err := pf.options(tf, lc, filepath.Join(work, "prune.ckpt"), req.Resume)
			if err != nil {
				return err
			}
			if ef.wasm() && pf.Distill > 0 {
				return errors.New("--lhspg-distill runs natively only (not with --engine wasm)")
			}
			if ef.wasm() && req.Resume {
				return errors.New("--resume needs --engine native (the wasm engines keep no checkpoints)")
			}
			meter := newStageMeter("load", map[string]string{"lhspg": "compress"})
			defer meter.finish()
			m, outDT, err := loadBase(mf, tf)
			if err != nil {
				return err
			}
			files, err := req.Data.orEmbedded(true)
			if err != nil {
				return err
			}
			data, err := app.LoadPruneData(m, files, pf.Calib, pf.CalibSeqs, tf.Ctx, tf.Seed)
			if err != nil {
				return err
			}
			if req.RecoverSteps == 0 {
				fmt.Fprintln(os.Stderr, "prune: --recover-steps 0 skips recovery: the pruned model is written before any fine-tuning, and it is much worse than after it")
			}
			if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			// A failed run leaves the work directory only if it holds a
			// checkpoint to resume from.
			defer removeIfEmpty(work)
			start := time.Now()
			ctx, stop := interruptible()
			defer stop()
			preq := app.PruneRequest{Options: opt, Train: data.Train, Calib: data.Calib}
			if req.RecoverSteps > 0 {
				preq.Recover = &app.RecoverRequest{LoRA: lc, Batch: tf.Batch, Ctx: tf.Ctx, Seed: tf.Seed, DevFrac: req.Schedule.DevFrac,
					Config: req.recoverConfig(filepath.Join(work, "recover.ckpt"))}
			}
			var res app.PruneResult
			var cm *model.Model
			engine := ""
			meter.enter("prune")
			if ef.wasm() {
				engine = ef.name
				var gg []byte
				if gg, res, err = pruneWasm(ctx, &req, preq); err != nil {
					return err
				}
				// the guest's model, to be written by the same rule as the native one
				f, err := gguf.Parse(gg)
				if err != nil {
					return err
				}
				if cm, err = model.FromGGUF(f, model.LoadOptions{DType: tensor.F32}); err != nil {
					return err
				}
			} else {
				bars := stageBars{}
				cm, res, err = app.Prune(ctx, m, preq, meter.follow(bars.update))
				bars.finish()
				if err != nil {
					return stopped(ctx, err, work)
				}
			}
			meter.enter("write")
			w, err := mf.writeModel(ctx, cm, outDT, out)
			if err != nil {
				return err
			}
			rep := res.Report
			countTokens(meter, rep, nil, opt)
			if res.Recovery != nil {
				meter.addTokens("recover", scoredTokens(res.Recovery.Log))
			}
			secs := time.Since(start).Seconds()
			rep.Seconds["total"] = secs
			extra := map[string]any{"output": out}
			if engine != "" {
				extra["engine"] = engine
			}
			if res.Recovery != nil {
				extra["recovery"] = res.Recovery
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
			return emitPruneResult(rep, w, engine, secs, meter.finish())
		},
	}
	fl := cmd.Flags()
	req.Model.registerOutput(cmd)
	req.Engine.register(cmd)
	req.Data.register(fl)
	req.LoRA.register(fl)
	req.Optim.register(fl)
	req.Prune.register(fl, true)
	req.Schedule.register(fl, false)
	fl.BoolVar(&req.Resume, "resume", req.Resume, "continue from the checkpoints in the work or report directory")
	fl.StringVarP(&req.Output, "output", "o", req.Output, "output GGUF")
	fl.StringVar(&req.Report, "report", req.Report, "directory for report.json and plots (also keeps checkpoints for --resume)")
	fl.IntVar(&req.RecoverSteps, "recover-steps", req.RecoverSteps, "plain LoRA recovery steps after pruning (same budget for every method; 0: none)")
	bindRequest(cmd, &req, defaultPrune())
	return cmd
}

// emitPruneResult prints the outcome of a prune run (engine "" for native).
func emitPruneResult(rep *prune.Report, w written, engine string, secs float64, stages []stageStat) error {
	res := map[string]any{"params_before": rep.ParamsBefore, "params_after": rep.ParamsAfter, "ratio": rep.Ratio,
		"seconds": secs, "method": rep.Method, "output": w.Path, "dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes,
		"heads": rep.Heads, "kv_heads": rep.KVHeads, "ffn": rep.FFN, "stage_seconds": rep.Seconds, "memory": rep.Memory}
	if rep.RemovedLayers != nil {
		res["removed_layers"], res["block_influence"] = rep.RemovedLayers, rep.BlockInfluence
	}
	if rep.PrunedLayers != nil {
		res["pruned_layers"], res["layer_ratio"] = rep.PrunedLayers, rep.LayerRatio
	}
	addMemory(res, stages)
	method := rep.Method
	if engine != "" {
		method += " (" + engine + ")"
	}
	return emit(res, func() {
		fmt.Printf("%s: %d → %d parameters (%.1f%% removed) in %.1fs\n", method, rep.ParamsBefore, rep.ParamsAfter, 100*rep.Ratio, secs)
		if rep.RemovedLayers != nil {
			fmt.Printf("removed blocks %v (block influence %.4f)\n", rep.RemovedLayers, rep.BlockInfluence)
		}
		if rep.PrunedLayers != nil {
			fmt.Printf("pruned blocks %v at ratio %.4f each\n", rep.PrunedLayers, rep.LayerRatio)
		}
		fmt.Printf("per layer: heads %v, kv heads %v, ffn %v\n%s\n", rep.Heads, rep.KVHeads, rep.FFN, w)
	})
}

// checkOutputDir refuses an output whose directory does not exist (as
// quantize and convert do) instead of creating it.
func checkOutputDir(out string) error { return app.CheckOutputDir(out) }

// removeIfEmpty removes dir if it holds nothing (a run that failed
// before writing a checkpoint).
func removeIfEmpty(dir string) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
		os.Remove(dir)
	}
}

// recoverConfig is the loop of prune's plain recovery.
func (req *pruneRequest) recoverConfig(ckpt string) train.Config {
	sch := req.Schedule
	sch.Steps = req.RecoverSteps
	return sch.config(req.Optim, ckpt, req.Resume)
}
