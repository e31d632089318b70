// Command results runs the pruning experiments on stories260K and writes
// docs/RESULTS.md: every method at 20% and 50% of parameters removed with
// the same recovery budget, LHSPG ablations, and dynamic vs uniform
// recovery. Run it with `make results` (about an hour on 2 cores).
//
// Data: ../shared/data/tinystories-dev.txt. Its first 10% (by bytes, cut at
// a paragraph boundary; it holds the first 100 perplexity chunks) is the evaluation text and takes no part in
// calibration or training; instructions quoting it are dropped.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

type run struct {
	name     string
	ratio    float64
	method   string
	variant  string
	noProj   bool
	noTrans  bool
	uniform  bool
	balanced bool
}

type outcome struct {
	run
	params      int
	ratioActual float64
	ppl         float64
	acc, accN   float64
	seconds     float64
	widths      string
}

func main() {
	shared := flag.String("shared", "../shared", "the shared data directory")
	out := flag.String("o", "docs/RESULTS.md", "output Markdown")
	quick := flag.Bool("quick", false, "tiny budgets (a smoke test of the driver)")
	only := flag.String("only", "", "comma-separated run names to run (default all)")
	scale := flag.Int("scale", 1, "multiply every step budget (LHSPG and recovery) by this")
	flag.Float64Var(&rk.distill, "distill", 0, "recovery: distillation weight λ (0: off)")
	flag.Float64Var(&rk.temp, "distill-temp", 1, "recovery: distillation temperature τ")
	flag.Float64Var(&rk.pruneDistill, "prune-distill", 0, "LHSPG: distillation weight λ (temperature -distill-temp; 0: off)")
	flag.BoolVar(&rk.full, "recover-full", false, "recovery: train every weight instead of a LoRA")
	flag.Float64Var(&rk.lr, "recover-lr", 0, "recovery: learning rate (0: prune.LoRARecover's 2e-3)")
	flag.Float64Var(&rk.lr2, "instruct-lr", 0, "recovery stage 2 learning rate (0: the stage 1 rate)")
	flag.IntVar(&rk.stage1, "stage1", 0, "recovery stage 1 steps (0: the budget's, times -scale)")
	flag.IntVar(&rk.stage2, "stage2", -1, "recovery stage 2 steps (-1: the budget's, times -scale)")
	flag.StringVar(&rk.cache, "cache", "", "directory caching the pruned models before recovery (pruning is deterministic), so recovery settings can be compared without re-pruning")
	flag.Parse()
	if err := mainErr(*shared, *out, *quick, *only, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "results:", err)
		os.Exit(1)
	}
}

// recoveryKnobs vary the recovery of every run (see the flags).
type recoveryKnobs struct {
	distill, temp, lr float64
	pruneDistill, lr2 float64
	full              bool
	stage1, stage2    int
	cache             string
}

var rk recoveryKnobs

// budget is one run's step counts, the same for every method.
type budget struct {
	warmup, periods, periodSteps int
	stage1, stage2               int
	batch, ctx                   int
}

func mainErr(shared, outPath string, quick bool, only string, scale int) error {
	b := budget{warmup: 30, periods: 4, periodSteps: 30, stage1: 150, stage2: 50, batch: 8, ctx: 128}
	if quick {
		b = budget{warmup: 4, periods: 2, periodSteps: 4, stage1: 6, stage2: 4, batch: 4, ctx: 64}
	}
	b.warmup, b.periodSteps, b.stage1, b.stage2 = b.warmup*scale, b.periodSteps*scale, b.stage1*scale, b.stage2*scale
	if rk.stage1 > 0 {
		b.stage1 = rk.stage1
	}
	if rk.stage2 >= 0 {
		b.stage2 = rk.stage2
	}
	dense, err := model.Load(filepath.Join(shared, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		return err
	}
	text, err := os.ReadFile(filepath.Join(shared, "data/tinystories-dev.txt"))
	if err != nil {
		return err
	}
	heldOut, head := splitHead(string(text), 0.1)
	ins, err := train.ReadInstructions(filepath.Join(shared, "data/tinystories-instruct-dev.jsonl"))
	if err != nil {
		return err
	}
	var instruct []train.Example
	dropped := 0
	for _, in := range ins {
		if quotes(heldOut, in.Input) || quotes(heldOut, in.Output) {
			dropped++
			continue
		}
		if ex, ok := train.InstructionExample(dense.Tok, in, b.ctx); ok {
			instruct = append(instruct, ex)
		}
	}
	mc, err := eval.ReadMC(filepath.Join(shared, "data/cloze-dev.jsonl"))
	if err != nil {
		return err
	}
	chunks := 100
	if quick {
		chunks, mc = 5, mc[:20]
	}
	heldTokens := dense.Tok.Encode(heldOut)
	evalModel := func(m *model.Model) (float64, float64, float64, error) {
		p, err := eval.Perplexity(m, heldTokens, 256, chunks, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		r, err := eval.MultipleChoice(context.Background(), m, mc, 512, nil)
		return p.PPL, r.Acc, r.AccNorm, err
	}
	t0 := time.Now()
	dPPL, dAcc, dAccN, err := evalModel(dense)
	if err != nil {
		return err
	}
	denseSecs := time.Since(t0).Seconds()
	textEx := train.PackText(dense.Tok, head, b.ctx)
	trainText, calib := train.Split(textEx, 8/float64(len(textEx)), 8)
	subsets := prune.SplitByLength(dense.Tok, head, b.ctx, 4)

	// The method comparison at both ratios first, then dynamic vs uniform
	// recovery, then the LHSPG ablations, so a partial run still answers
	// the main question.
	var runs []run
	tag := func(r float64) string { return fmt.Sprintf("%.0f%%", 100*r) }
	for _, r := range []float64{0.2, 0.5} {
		runs = append(runs,
			run{name: "lorashear@" + tag(r), ratio: r, method: "lorashear", variant: "projection"},
			run{name: "taylor@" + tag(r), ratio: r, method: "taylor"},
			run{name: "magnitude@" + tag(r), ratio: r, method: "magnitude"},
			run{name: "random@" + tag(r), ratio: r, method: "random"})
	}
	for _, r := range []float64{0.2, 0.5} {
		runs = append(runs, run{name: "lorashear-uniform@" + tag(r), ratio: r, method: "lorashear", variant: "projection", uniform: true})
	}
	for _, r := range []float64{0.2, 0.5} {
		runs = append(runs, run{name: "lorashear-balanced@" + tag(r), ratio: r, method: "lorashear", variant: "projection", balanced: true})
	}
	for _, r := range []float64{0.2, 0.5} {
		runs = append(runs,
			run{name: "no-projection@" + tag(r), ratio: r, method: "lorashear", variant: "projection", noProj: true},
			run{name: "no-transfer@" + tag(r), ratio: r, method: "lorashear", variant: "projection", noTrans: true},
			run{name: "decay@" + tag(r), ratio: r, method: "lorashear", variant: "decay"})
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	var done []outcome
	for _, r := range runs {
		if len(want) > 0 && !want[r.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", r.name)
		m := dense.Clone()
		cfg := prune.DefaultLHSPG()
		cfg.Warmup, cfg.Periods, cfg.PeriodSteps, cfg.Variant = b.warmup, b.periods, b.periodSteps, r.variant
		if r.variant == "" {
			cfg.Variant = "projection"
		}
		cfg.NoProjection, cfg.NoTransfer, cfg.Target, cfg.Balanced = r.noProj, r.noTrans, r.ratio, r.balanced // unbalanced unless the run asks
		opt := prune.Options{Method: r.method, Target: r.ratio, Gamma: 0.1, LHSPG: cfg, LoRA: lora.DefaultConfig(),
			Optim:        train.Optim{Batch: b.batch, Ctx: b.ctx, LR: 2e-3, Clip: 1, Seed: 1},
			Distillation: train.Distillation{Distill: rk.pruneDistill, DistillTemp: rk.temp}}
		data := prune.Data{Train: append(append([]train.Example(nil), trainText...), instruct...), Calib: calib}
		cm, rep, pruneSecs, err := pruneCached(r, b, scale, quick, m, opt, data)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		ropt := prune.LoRARecover() // the protocol of the main table; the flags vary it
		ropt.Stage1Steps, ropt.Stage2Steps, ropt.Batch, ropt.Ctx, ropt.Uniform = b.stage1, b.stage2, b.batch, b.ctx, r.uniform
		ropt.Distill, ropt.DistillTemp, ropt.Full = rk.distill, rk.temp, rk.full
		if rk.lr > 0 {
			ropt.LR = rk.lr
		}
		ropt.Stage2LR = rk.lr2
		tr := time.Now()
		rrep, err := prune.Recover(context.Background(), cm, dense, subsets, instruct, ropt, nil)
		if err != nil {
			return fmt.Errorf("%s: recovery: %w", r.name, err)
		}
		recSecs := time.Since(tr).Seconds()
		// kept says which weights a stage ended with: BestStep is set only
		// when early stopping restored an earlier step's.
		kept := func(best, steps int) string {
			if best > 0 {
				return fmt.Sprintf("weights of step %d of %d kept", best, steps)
			}
			return fmt.Sprintf("%d steps, final weights", steps)
		}
		s2 := ""
		if rrep.Stage2 != nil {
			s2 = fmt.Sprintf(", stage 2 dev %.4f→%.4f (%s)", rrep.Stage2.DevLossBefore, rrep.Stage2.DevLossAfter, kept(rrep.Stage2.BestStep, rrep.Stage2.Steps))
		}
		fmt.Fprintf(os.Stderr, "   pruning %.0fs, recovery %.0fs; stage 1 dev %.4f→%.4f (%s)%s\n", pruneSecs, recSecs,
			rrep.Stage1.DevLossBefore, rrep.Stage1.DevLossAfter, kept(rrep.Stage1.BestStep, rrep.Stage1.Steps), s2)
		secs := pruneSecs + recSecs
		ppl, acc, accN, err := evalModel(cm)
		if err != nil {
			return err
		}
		o := outcome{run: r, params: rep.ParamsAfter, ratioActual: rep.Ratio, ppl: ppl, acc: acc, accN: accN, seconds: secs,
			widths: fmt.Sprintf("heads %v, ffn %v", rep.Heads, rep.FFN)}
		done = append(done, o)
		fmt.Fprintf(os.Stderr, "   ppl %.3f (dense %.3f), acc %.3f, %.0fs\n", ppl, dPPL, acc, secs)
		if err := write(outPath, b, dense.Params(), dPPL, dAcc, dAccN, denseSecs, done, dropped, len(mc), chunks, quick); err != nil {
			return err
		}
	}
	return nil
}

func write(path string, b budget, denseParams int, dPPL, dAcc, dAccN, denseSecs float64, done []outcome, dropped, mcN, chunks int, quick bool) error {
	var s strings.Builder
	s.WriteString("# Results: LoRAShear on stories260K\n\n")
	s.WriteString("Generated by `make results` (tools/results). Measured on this project's 2-core machine")
	fmt.Fprintf(&s, " (%s, GOMAXPROCS %d) on %s.", runtime.GOARCH, runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02"))
	if quick {
		s.WriteString(" **Quick mode: tiny budgets, numbers are a smoke test only.**")
	}
	s.WriteString("\n\n## Protocol\n\n")
	s.WriteString("- Model: ../shared/models/stories260K.gguf (292,800 parameters counting the tied embedding once). The target is the fraction of *all* parameters removed.\n")
	s.WriteString("- Evaluation text: the **first 10%** of ../shared/data/tinystories-dev.txt (by bytes, cut at a paragraph boundary; it contains the first 100 chunks of the perplexity protocol, so the dense row reproduces llama.cpp's 4.6156). It is never used for calibration, training or recovery. Perplexity follows docs/EVALUATION.md (ctx 256, BOS + 255 tokens per chunk)")
	fmt.Fprintf(&s, " over its first %d chunks.\n", chunks)
	fmt.Fprintf(&s, "- Training and calibration use the first 90%%; %d instructions of tinystories-instruct-dev.jsonl that quote the evaluation text were dropped.\n", dropped)
	fmt.Fprintf(&s, "- Cloze: all %d items of cloze-dev.jsonl (derived from the same TinyStories split, so some items overlap the training text; the same for every method).\n", mcN)
	fmt.Fprintf(&s, "- Budget, identical for every method: LoRA r=8 α=16; LoRAShear's LHSPG runs %d warm-up + %d×%d pruning steps (batch %d × %d tokens); every method then gets the same recovery: %d steps on pretraining-style subsets + %d instruction steps.\n", b.warmup, b.periods, b.periodSteps, b.batch, b.ctx, b.stage1, b.stage2)
	s.WriteString("- Baselines prune one shot (magnitude: group L2 norm; taylor: |Σ w·∂L/∂w| on the calibration batches; random), then recover identically. LoRAShear marks the top 10% groups by loss deviation unprunable (γ = 0.1).\n\n")
	s.WriteString("## Main table\n\n| run | params | removed | ppl | ppl / dense | acc | acc_norm | wall time |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&s, "| dense | %d | 0 | %.3f | 1.000 | %.3f | %.3f | %.0fs (eval) |\n", denseParams, dPPL, dAcc, dAccN, denseSecs)
	for _, o := range done {
		fmt.Fprintf(&s, "| %s | %d | %.1f%% | %.3f | %.3f | %.3f | %.3f | %.0fs |\n", o.name, o.params, 100*o.ratioActual, o.ppl, o.ppl/dPPL, o.acc, o.accN, o.seconds)
	}
	s.WriteString("\nWall time covers pruning and recovery (not evaluation). Kept widths per layer:\n\n")
	for _, o := range done {
		fmt.Fprintf(&s, "- %s: %s\n", o.name, o.widths)
	}
	return os.WriteFile(path, []byte(s.String()), 0o644)
}

// splitHead cuts text into its first frac (at a blank line) and the rest.
func splitHead(text string, frac float64) (head, rest string) {
	cut := int(float64(len(text)) * frac)
	if i := strings.Index(text[cut:], "\n\n"); i >= 0 {
		cut += i + 2
	}
	return text[:cut], text[cut:]
}

func quotes(text, s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 20 && strings.Contains(text, s)
}

// pruneCached prunes m, or loads the pruned model of the same run and
// budget from rk.cache (the pruned model before recovery and its report,
// including the pruning time it took).
func pruneCached(r run, b budget, scale int, quick bool, m *model.Model, opt prune.Options, data prune.Data) (*model.Model, *prune.Report, float64, error) {
	var base string
	if rk.cache != "" {
		// Keyed by what pruning depends on (not the recovery: -uniform runs share the model).
		key := fmt.Sprintf("%s-%s-r%g-bal%v-np%v-nt%v-w%d-p%dx%d-q%v", r.method, r.variant, r.ratio, r.balanced, r.noProj, r.noTrans,
			b.warmup, b.periods, b.periodSteps, quick)
		if opt.Distill > 0 {
			key += fmt.Sprintf("-kd%g-t%g", opt.Distill, opt.DistillTemp)
		}
		base = filepath.Join(rk.cache, key)
		var c struct {
			Report  *prune.Report
			Seconds float64
		}
		if j, err := os.ReadFile(base + ".json"); err == nil && json.Unmarshal(j, &c) == nil {
			cm, err := model.Load(base+".gguf", model.LoadOptions{DType: tensor.F32})
			if err == nil {
				fmt.Fprintf(os.Stderr, "   pruned model from %s.gguf\n", base)
				return cm, c.Report, c.Seconds, nil
			}
		}
	}
	t := time.Now()
	cm, rep, err := prune.Prune(context.Background(), m, opt, data, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	secs := time.Since(t).Seconds()
	if base != "" {
		if err := os.MkdirAll(rk.cache, 0o755); err != nil {
			return nil, nil, 0, err
		}
		if err := cm.Save(base + ".gguf"); err != nil {
			return nil, nil, 0, err
		}
		j, err := json.Marshal(struct {
			Report  *prune.Report
			Seconds float64
		}{rep, secs})
		if err != nil {
			return nil, nil, 0, err
		}
		if err := os.WriteFile(base+".json", j, 0o644); err != nil {
			return nil, nil, 0, err
		}
		// Recover from the saved bytes, so a cached and an uncached run start alike.
		if cm, err = model.Load(base+".gguf", model.LoadOptions{DType: tensor.F32}); err != nil {
			return nil, nil, 0, err
		}
	}
	return cm, rep, secs, nil
}
