package main

import (
	"context"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
)

// defaultTexts is the embedded default data (the Austen novels the
// default model was trained on).
func defaultTexts() ([]protocol.NamedText, error) { return protocol.ReadFS(assets.DefaultData()) }

// lorashearRequest is what `shear lorashear` reads from its flags.
type lorashearRequest struct {
	Model            modelFlags
	Data             dataFlags
	LoRA             loraFlags
	Optim            optimFlags
	Prune            pruneFlags
	Recovery         recoveryFlags
	Resume           bool
	Output, Report   string
	EvalPath, MCPath string
	EvalChunks       int
	Budget           float64
}

func defaultLorashear() lorashearRequest {
	return lorashearRequest{Model: defaultModelFlags(), LoRA: defaultLoRAFlags(), Optim: defaultOptimFlags(),
		Prune: defaultPruneFlags(), Recovery: defaultRecoveryFlags(), EvalChunks: app.LoRAShearRequest{}.Default().EvalChunks,
		Budget: app.LoRAShearRequest{}.Default().Budget}
}

// request checks the flags and builds the application's request, with
// the checkpoints in reportDir.
func (req *lorashearRequest) request(reportDir string) (app.LoRAShearRequest, error) {
	tf, pf, rf := &req.Optim, req.Prune, &req.Recovery
	if err := valid.First(tf.validate(nil), valid.Int("--eval-chunks", req.EvalChunks, 0, 1<<24),
		valid.Float("--budget", req.Budget, valid.NonNegative)); err != nil {
		return app.LoRAShearRequest{}, err
	}
	lc, err := req.LoRA.config()
	if err != nil {
		return app.LoRAShearRequest{}, err
	}
	pf.Method = "lorashear"
	opt, err := pf.options(tf, lc, filepath.Join(reportDir, "prune.ckpt"), req.Resume)
	if err != nil {
		return app.LoRAShearRequest{}, err
	}
	ropt, err := rf.options(tf, lc, filepath.Join(reportDir, "recover.ckpt"), req.Resume)
	if err != nil {
		return app.LoRAShearRequest{}, err
	}
	return app.LoRAShearRequest{Data: req.Data.files(), EvalPath: req.EvalPath, MCPath: req.MCPath, EvalChunks: req.EvalChunks,
		CalibSeqs: pf.CalibSeqs, Subsets: rf.Subsets, Prune: opt, Recover: ropt, Budget: req.Budget}, nil
}

func newLorashear() *cobra.Command {
	req := defaultLorashear()
	cmd := &cobra.Command{
		Use:   "lorashear",
		Short: "The whole LoRAShear method: analysis → LHSPG → compression → dynamic recovery → evaluation",
		Long: `The whole LoRAShear method: analysis → LHSPG → compression → dynamic recovery → evaluation.

The step counts shown as defaults below are the base of a budget scaled to the model: a model of
fewer than 2M parameters gets 2M/params times the training compute (at most 16×) — LHSPG the square
root of that in steps, recovery all of it — and recovery a further d = target/0.25 (at least 1):
d^1.5 in steps and d in learning rates, so a heavier cut recovers longer and faster. Step and rate flags given explicitly
are used as given; --budget sets the multiplier instead (1: the base counts). The counts used and why
are printed, in --json "budget" and in report.json (docs/VALIDATION-defaults.md: how they were chosen).`,
		Example: `  shear lorashear --target 0.2                     # the embedded model and data: pruned.gguf, pruned-report/
  shear lorashear -m model.gguf --target 0.5 --data texts/ --instruct data.jsonl --mc items.jsonl -o pruned.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			meter := newStageMeter("load", map[string]string{"lhspg": "compress"})
			defer meter.finish()
			mf, tf := &req.Model, &req.Optim
			out, reportDir := req.Output, req.Report
			if out == "" {
				out = "pruned.gguf"
			}
			if reportDir == "" {
				reportDir = strings.TrimSuffix(out, filepath.Ext(out)) + "-report"
			}
			if err := checkOutput(out, mf.path); err != nil {
				return err
			}
			if err := checkOutputDir(out); err != nil {
				return err
			}
			r, err := req.request(reportDir)
			if err != nil {
				return err
			}
			r.Recover.Memory = r.Prune.Memory
			for _, name := range []string{app.StepsWarmup, app.StepsPeriod, app.StepsRecover, app.StepsInstruct, app.RateRecover, app.RateInstruct} {
				if cmd.Flags().Changed(name) || name == app.RateRecover && cmd.Flags().Changed("lr") {
					r.ExplicitSteps = append(r.ExplicitSteps, name)
				}
			}
			m, outDT, err := loadBase(mf, tf)
			if err != nil {
				return err
			}
			if req.Data.Data == "" {
				// The embedded defaults: Austen's texts, held-out text and instructions.
				texts, err := defaultTexts()
				if err != nil {
					return err
				}
				r.Embedded = &app.EmbeddedData{Texts: texts, HeldOut: assets.HeldOut(), Instructions: assets.DefaultInstructions()}
				fmt.Fprintln(os.Stderr, "using the embedded default data (Austen: training text, held-out text, instructions)")
			}
			if err := os.MkdirAll(reportDir, 0o755); err != nil {
				return err
			}
			// A failed run leaves the report directory only if it holds a
			// checkpoint to resume from.
			defer removeIfEmpty(reportDir)
			ctx, stop := interruptible()
			defer stop()
			bars := stageBars{}
			defer bars.finish()
			r.Note = func(stage, what string) {
				meter.enter(stage)
				if what != "" {
					bars.finish()
					fmt.Fprintln(os.Stderr, what)
				}
			}
			r.Dense = func() (*model.Model, error) {
				d, _, err := loadBase(mf, tf)
				return d, err
			}
			r.Budgeted = func(b app.StepBudget) {
				fmt.Fprintf(os.Stderr, "steps: LHSPG %d + %d×%d, recovery %d + %d at lr %g, %g (%s)\n", b.Warmup, b.Periods, b.PeriodSteps, b.Recover, b.Instruct,
					b.RecoverLR, b.InstructLR, b.Reason)
			}
			res, err := app.LoRAShear(ctx, m, r, meter.follow(bars.update))
			bars.finish()
			if err != nil {
				return stopped(ctx, err, reportDir)
			}
			rep := res.Report
			if r := res.Recovery; r != nil && r.Memory != nil {
				fmt.Fprintf(os.Stderr, "recovery ran %s: %s\n", r.Memory.Mode, r.Memory.Reason)
			}
			meter.enter("write")
			w, err := mf.writeModel(ctx, res.Model, outDT, out)
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			rep.Seconds["total"] = secs
			countTokens(meter, rep, res.Recovery, r.Prune)
			stages := meter.finish()
			if err := writePipelineReport(reportDir, rep, res.Recovery, &res.Budget, res.Dense, res.Pruned, res.Summary); err != nil {
				return err
			}
			for _, f := range []string{"prune.ckpt", "recover.ckpt.stage1", "recover.ckpt.stage2"} {
				os.Remove(filepath.Join(reportDir, f))
			}
			result := map[string]any{"params_before": rep.ParamsBefore, "params_after": rep.ParamsAfter, "ratio": rep.Ratio,
				"seconds": secs, "budget": res.Budget, "dense": res.Dense, "pruned": res.Pruned, "output": out, "report": reportDir,
				"dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes}
			addMemory(result, stages)
			return emit(result, func() {
				fmt.Print(res.Summary)
				fmt.Printf("\n%s\nwrote %s/ (report.json, summary.md, plots) in %.0fs\n", w, reportDir, secs)
			})
		},
	}
	fl := cmd.Flags()
	req.Model.registerOutput(cmd)
	req.Data.register(fl)
	req.LoRA.register(fl)
	req.Optim.register(fl)
	req.Prune.register(fl, false)
	req.Recovery.register(fl)
	fl.BoolVar(&req.Resume, "resume", req.Resume, "continue from the checkpoints in the report directory")
	fl.StringVarP(&req.Output, "output", "o", req.Output, "output GGUF (default pruned.gguf)")
	fl.StringVar(&req.Report, "report", req.Report, "report directory (default OUTPUT-report; holds checkpoints for --resume)")
	fl.StringVar(&req.EvalPath, "eval", req.EvalPath, "evaluation text (default: the first 10% of every --data file; the next 10% is validation text, both kept out of training)")
	fl.StringVar(&req.MCPath, "mc", req.MCPath, "multiple-choice JSONL for acc/acc_norm")
	fl.IntVar(&req.EvalChunks, "eval-chunks", req.EvalChunks, "perplexity chunks of the evaluation text")
	fl.Float64Var(&req.Budget, "budget", req.Budget, "multiplier of the default step counts (0: scaled to the model's size and the target; "+
		"--lhspg-warmup, --period-steps, --recover-steps, --instruct-steps given explicitly are used as given)")
	bindRequest(cmd, &req, defaultLorashear())
	return cmd
}

func stopped(ctx context.Context, err error, dir string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; rerun the same command with --resume to continue from %s", dir)
	}
	return err
}

func writePipelineReport(dir string, rep *prune.Report, rrep *prune.RecoverReport, budget *app.StepBudget, dq, pq protocol.Quality, summary string) error {
	extra := map[string]any{"recovery": rrep, "dense": dq, "pruned": pq}
	if budget != nil {
		extra["budget"] = budget
	}
	if err := writePruneReport(dir, rep, extra); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte("# LoRAShear run\n\n"+summary), 0o644); err != nil {
		return err
	}
	return saveRecoveryPlots(dir, rrep)
}
