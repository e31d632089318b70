package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// dataPlan is the data of a pruning pipeline, with the evaluation text
// kept out of every training and calibration step.
type dataPlan struct {
	heldOut  string          // evaluation text
	trainTxt []string        // training texts (one per file)
	names    []string        // file names
	instruct []train.Example // instructions, minus any that quote the held-out text
	dropped  int             // instructions dropped for quoting the held-out text
}

// holdOutFrac of every data file, its head cut at a paragraph boundary,
// is the evaluation text.
const holdOutFrac = 0.1

// splitHead cuts text into its first frac (at a blank line) and the rest.
func splitHead(text string, frac float64) (head, rest string) {
	cut := int(float64(len(text)) * frac)
	if i := strings.Index(text[cut:], "\n\n"); i >= 0 {
		cut += i + 2
	}
	return text[:cut], text[cut:]
}

// namedText is one training text and where it came from.
type namedText struct{ name, text string }

// readTexts reads the files of a --data path.
func readTexts(path string) ([]namedText, error) {
	files, err := train.TextFiles(path)
	if err != nil {
		return nil, err
	}
	var out []namedText
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, namedText{filepath.Base(f), string(b)})
	}
	return out, nil
}

// defaultTexts is the embedded default data (the Austen novels the
// default model was trained on).
func defaultTexts() ([]namedText, error) {
	var out []namedText
	err := fs.WalkDir(assets.DefaultData(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets.DefaultData(), p)
		out = append(out, namedText{path.Base(p), string(b)})
		return err
	})
	return out, err
}

// planData holds out the evaluation text — evalText, or the first 10% of
// every text — and drops instructions that quote it.
func planData(m *model.Model, texts []namedText, ins []train.Instruction, evalText string, ctx int) *dataPlan {
	p := &dataPlan{heldOut: evalText}
	for _, t := range texts {
		rest := t.text
		if evalText == "" {
			var held string
			held, rest = splitHead(t.text, holdOutFrac)
			p.heldOut += held
		}
		p.trainTxt, p.names = append(p.trainTxt, rest), append(p.names, t.name)
	}
	for _, in := range ins {
		if quotes(p.heldOut, in.Input) || quotes(p.heldOut, in.Output) {
			p.dropped++
			continue
		}
		if ex, ok := train.InstructionExample(m.Tok, in, ctx); ok {
			p.instruct = append(p.instruct, ex)
		}
	}
	return p
}

// quotes reports whether s (long enough to be telling) appears in text.
func quotes(text, s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 20 && strings.Contains(text, s)
}

// subsets cuts the training texts into recovery subsets: one per file, or
// by paragraph length for a single file (prune.SplitByLength).
func (p *dataPlan) subsets(m *model.Model, ctx, k int) []prune.Subset {
	if len(p.trainTxt) == 1 {
		return prune.SplitByLength(m.Tok, p.trainTxt[0], ctx, k)
	}
	var out []prune.Subset
	for i, t := range p.trainTxt {
		if ex := train.PackText(m.Tok, t, ctx); len(ex) > 0 {
			out = append(out, prune.Subset{Name: p.names[i], Examples: ex})
		}
	}
	return out
}

// pruneData is the training and calibration data of the pruning stage.
func (p *dataPlan) pruneData(m *model.Model, ctx, calibSeqs int, seed uint64) prune.Data {
	var text []train.Example
	for _, t := range p.trainTxt {
		text = append(text, train.PackText(m.Tok, t, ctx)...)
	}
	rest, calib := train.Split(text, float64(calibSeqs)/float64(max(len(text), 1)), seed+7)
	return prune.Data{Train: append(rest, p.instruct...), Calib: calib}
}

// quality is a model's evaluation in the pipeline report.
type quality struct {
	PPL     float64  `json:"ppl"`
	Chunks  int      `json:"chunks"`
	Acc     *float64 `json:"acc,omitempty"`
	AccNorm *float64 `json:"acc_norm,omitempty"`
}

func evaluate(m *model.Model, heldOut string, chunks int, mc []eval.MCItem) (quality, error) {
	res, err := eval.Perplexity(m, m.Tok.Encode(heldOut), 256, chunks, nil)
	if err != nil {
		return quality{}, err
	}
	q := quality{PPL: res.PPL, Chunks: res.Chunks}
	if len(mc) > 0 {
		r, err := eval.MultipleChoice(m, mc, 512, nil)
		if err != nil {
			return q, err
		}
		q.Acc, q.AccNorm = &r.Acc, &r.AccNorm
	}
	return q, nil
}

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
}

func defaultLorashear() lorashearRequest {
	return lorashearRequest{Model: defaultModelFlags(), LoRA: defaultLoRAFlags(), Optim: defaultOptimFlags(),
		Prune: defaultPruneFlags(), Recovery: defaultRecoveryFlags(), EvalChunks: 100}
}

func newLorashear() *cobra.Command {
	req := defaultLorashear()
	cmd := &cobra.Command{
		Use:   "lorashear",
		Short: "The whole LoRAShear method: analysis → LHSPG → compression → dynamic recovery → evaluation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			mf, tf, pf, rf := &req.Model, &req.Optim, &req.Prune, &req.Recovery
			out, reportDir, evalPath, mcPath, evalChunks := req.Output, req.Report, req.EvalPath, req.MCPath, req.EvalChunks
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
			if err := valid.First(tf.validate(nil), valid.Int("--eval-chunks", evalChunks, 0, 1<<24)); err != nil {
				return err
			}
			lc, err := req.LoRA.config()
			if err != nil {
				return err
			}
			pf.Method = "lorashear"
			opt, err := pf.options(tf, lc, filepath.Join(reportDir, "prune.ckpt"), req.Resume)
			if err != nil {
				return err
			}
			ropt, err := rf.options(tf, lc, filepath.Join(reportDir, "recover.ckpt"), req.Resume)
			if err != nil {
				return err
			}
			ropt.Memory = opt.Memory
			m, err := loadBase(mf, tf)
			if err != nil {
				return err
			}
			// Data: --data/--instruct/--eval, or the embedded defaults.
			var texts []namedText
			var ins []train.Instruction
			evalText := ""
			if evalPath != "" {
				b, err := os.ReadFile(evalPath)
				if err != nil {
					return err
				}
				evalText = string(b)
			}
			if req.Data.Data != "" {
				if texts, err = readTexts(req.Data.Data); err != nil {
					return err
				}
			} else {
				if texts, err = defaultTexts(); err != nil {
					return err
				}
				if evalText == "" {
					evalText = assets.HeldOut()
				}
				if req.Data.Instruct == "" {
					ins = assets.DefaultInstructions()
				}
				fmt.Fprintln(os.Stderr, "using the embedded default data (Austen: training text, held-out text, instructions)")
			}
			if req.Data.Instruct != "" {
				if ins, err = train.ReadInstructions(req.Data.Instruct); err != nil {
					return err
				}
			}
			plan := planData(m, texts, ins, evalText, tf.Ctx)
			var mc []eval.MCItem
			if mcPath != "" {
				if mc, err = eval.ReadMC(mcPath); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(reportDir, 0o755); err != nil {
				return err
			}
			// A failed run leaves the report directory only if it holds a
			// checkpoint to resume from.
			defer removeIfEmpty(reportDir)
			ctx, stop := interruptible()
			defer stop()
			stageStart := time.Now()
			dense := m.Clone()
			fmt.Fprintln(os.Stderr, "evaluating the dense model…")
			dq, err := evaluate(dense, plan.heldOut, evalChunks, mc)
			if err != nil {
				return err
			}
			tEvalDense := time.Since(stageStart).Seconds()
			bars := stageBars{}
			defer bars.finish()
			cm, rep, err := prune.Prune(ctx, m, opt, plan.pruneData(m, tf.Ctx, pf.CalibSeqs, tf.Seed), bars.update)
			if err != nil {
				return stopped(ctx, err, reportDir)
			}
			if len(plan.instruct) == 0 {
				ropt.Stage2Steps = 0
			}
			t0 := time.Now()
			rrep, err := prune.Recover(ctx, cm, dense, plan.subsets(m, tf.Ctx, rf.Subsets), plan.instruct, ropt, func(stage string, s train.StepInfo) {
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
			rep.Seconds["recover"] = time.Since(t0).Seconds()
			if mp := rrep.Memory; mp != nil {
				fmt.Fprintf(os.Stderr, "recovery ran %s: %s\n", mp.Mode, mp.Reason)
			}
			fmt.Fprintln(os.Stderr, "evaluating the pruned model…")
			t0 = time.Now()
			pq, err := evaluate(cm, plan.heldOut, evalChunks, mc)
			if err != nil {
				return err
			}
			rep.Seconds["eval"] = time.Since(t0).Seconds() + tEvalDense
			if err := cm.Save(out); err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			rep.Seconds["total"] = secs
			summary := pipelineSummary(rep, dq, pq, plan, len(mc))
			if err := writePipelineReport(reportDir, rep, rrep, dq, pq, summary); err != nil {
				return err
			}
			for _, f := range []string{"prune.ckpt", "recover.ckpt.stage1", "recover.ckpt.stage2"} {
				os.Remove(filepath.Join(reportDir, f))
			}
			res := map[string]any{"params_before": rep.ParamsBefore, "params_after": rep.ParamsAfter, "ratio": rep.Ratio,
				"seconds": secs, "dense": dq, "pruned": pq, "output": out, "report": reportDir}
			return emit(res, func() {
				fmt.Print(summary)
				fmt.Printf("\nwrote %s and %s/ (report.json, summary.md, plots) in %.0fs\n", out, reportDir, secs)
			})
		},
	}
	fl := cmd.Flags()
	req.Model.register(cmd)
	req.Data.register(fl)
	req.LoRA.register(fl)
	req.Optim.register(fl)
	req.Prune.register(fl, false)
	req.Recovery.register(fl)
	fl.BoolVar(&req.Resume, "resume", req.Resume, "continue from the checkpoints in the report directory")
	fl.StringVarP(&req.Output, "output", "o", req.Output, "output GGUF (default pruned.gguf)")
	fl.StringVar(&req.Report, "report", req.Report, "report directory (default OUTPUT-report; holds checkpoints for --resume)")
	fl.StringVar(&req.EvalPath, "eval", req.EvalPath, "evaluation text (default: the first 10% of every --data file, kept out of training)")
	fl.StringVar(&req.MCPath, "mc", req.MCPath, "multiple-choice JSONL for acc/acc_norm")
	fl.IntVar(&req.EvalChunks, "eval-chunks", req.EvalChunks, "perplexity chunks of the evaluation text")
	bindRequest(cmd, &req, defaultLorashear())
	return cmd
}

func stopped(ctx context.Context, err error, dir string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; rerun the same command with --resume to continue from %s", dir)
	}
	return err
}

func pipelineSummary(rep *prune.Report, dq, pq quality, plan *dataPlan, mcN int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| model | params | ppl (held-out, %d chunks) |", dq.Chunks)
	if mcN > 0 {
		b.WriteString(" acc | acc_norm |")
	}
	b.WriteString("\n|---|---|---|")
	if mcN > 0 {
		b.WriteString("---|---|")
	}
	b.WriteString("\n")
	row := func(name string, params int, q quality) {
		fmt.Fprintf(&b, "| %s | %d | %.4f |", name, params, q.PPL)
		if q.Acc != nil {
			fmt.Fprintf(&b, " %.3f | %.3f |", *q.Acc, *q.AccNorm)
		}
		b.WriteString("\n")
	}
	row("dense", rep.ParamsBefore, dq)
	row(fmt.Sprintf("lorashear −%.1f%%", 100*rep.Ratio), rep.ParamsAfter, pq)
	fmt.Fprintf(&b, "\npruned/dense ppl: %.3f×", pq.PPL/dq.PPL)
	if dq.Acc != nil && *dq.Acc > 0 {
		fmt.Fprintf(&b, "; acc retained %.1f%%", 100**pq.Acc / *dq.Acc)
	}
	fmt.Fprintf(&b, "\nper layer: heads %v, kv heads %v, ffn %v\n", rep.Heads, rep.KVHeads, rep.FFN)
	if plan.dropped > 0 {
		fmt.Fprintf(&b, "%d instructions quoting the evaluation text were left out of training\n", plan.dropped)
	}
	return b.String()
}

func writePipelineReport(dir string, rep *prune.Report, rrep *prune.RecoverReport, dq, pq quality, summary string) error {
	if err := writePruneReport(dir, rep, map[string]any{"recovery": rrep, "dense": dq, "pruned": pq}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte("# LoRAShear run\n\n"+summary), 0o644); err != nil {
		return err
	}
	if rrep != nil && len(rrep.Weights) > 0 {
		var lines []series
		for i, name := range rrep.Subsets {
			s := series{name: name}
			for k, w := range rrep.Weights {
				s.xs, s.ys = append(s.xs, float64(rrep.WeightSteps[k])), append(s.ys, w[i])
			}
			lines = append(lines, s)
		}
		if err := savePlot(filepath.Join(dir, "subset-weights.png"), "recovery subset weights", "step", "weight", lines...); err != nil {
			return err
		}
	}
	if rrep != nil {
		var s1, s2 series
		for _, s := range rrep.Log1 {
			s1.xs, s1.ys = append(s1.xs, float64(s.Step)), append(s1.ys, s.Loss)
		}
		for _, s := range rrep.Log2 {
			s2.xs, s2.ys = append(s2.xs, float64(len(rrep.Log1)+s.Step)), append(s2.ys, s.Loss)
		}
		s1.name, s2.name = "stage 1 (text)", "stage 2 (instructions)"
		if err := savePlot(filepath.Join(dir, "recovery-loss.png"), "recovery loss", "step", "loss", s1, s2); err != nil {
			return err
		}
	}
	return nil
}
