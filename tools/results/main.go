// Command results runs the pruning experiments and writes
// docs/RESULTS.md (-split test, `make results`) or docs/VALIDATION.md
// (-split val, `make validation`): every method of prune.Methods and
// LoRAShear's ablations at 20% and 50% of the parameters removed, on
// stories260K and the embedded Austen model, three seeds each, with equal
// training budgets counted in tokens. Everything in the output is
// generated; docs/EVALUATION.md describes the protocol.
//
// Data (the one cut of internal/protocol, as `shear lorashear` makes it): a
// text file's first 10% by bytes (at a paragraph boundary) is the test
// split, the next 10% the validation split, the rest trains and
// calibrates; the Austen model's held-out Persuasion tail is cut in two
// halves (validation, then test) and its training text trains. Cloze
// items alternate between validation and test.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/simd"
)

type config struct {
	shared, split, out, plots, cache, only string
	quick                                  bool
	scale                                  float64
	seeds, workers                         int
}

func main() {
	var c config
	flag.StringVar(&c.shared, "shared", "../shared", "the shared data directory")
	flag.StringVar(&c.split, "split", "test", "the split evaluated: test (docs/RESULTS.md) or val (docs/VALIDATION.md, where defaults are chosen)")
	flag.StringVar(&c.out, "o", "", "output Markdown (default docs/RESULTS.md, or docs/VALIDATION.md with -split val)")
	flag.StringVar(&c.plots, "plots", "", "directory of the plots (default docs/results beside -o)")
	flag.StringVar(&c.cache, "cache", "", "directory of finished runs, one JSON each keyed by model, method, ratio, seed, split, budget and commit, so an interrupted run resumes (a dirty tree is one key: clear the cache after changing code)")
	flag.StringVar(&c.only, "only", "", "comma-separated substrings of run names (model/method@ratio/seed) to run; default all")
	flag.BoolVar(&c.quick, "quick", false, "tiny budgets, one seed, two methods: a smoke test of the driver")
	flag.Float64Var(&c.scale, "scale", 1, "multiply every step count of the budget by this")
	flag.IntVar(&c.seeds, "seeds", 3, "seeds per row")
	flag.IntVar(&c.workers, "workers", 2, "runs at once (each with NumCPU/workers threads)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "results:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log io.Writer) error {
	switch c.split {
	case "test", "val":
	default:
		return fmt.Errorf("-split %q: want test or val", c.split)
	}
	if !(c.scale > 0) || c.seeds < 1 || c.workers < 1 {
		return fmt.Errorf("-scale must be > 0, -seeds and -workers ≥ 1")
	}
	if c.out == "" {
		c.out = map[string]string{"test": "docs/RESULTS.md", "val": "docs/VALIDATION.md"}[c.split]
	}
	if c.plots == "" {
		c.plots = filepath.Join(filepath.Dir(c.out), "results")
	}
	mach := describeMachine()
	b := newBudget(c.scale, c.quick)
	meths, seeds, abl := methods(), c.seeds, true
	if c.quick {
		meths, seeds, abl = []string{"lorashear", "random"}, 1, false
	}
	for _, m := range meths {
		if !slices.Contains(prune.Methods, m) {
			return fmt.Errorf("method %q is not in prune.Methods", m)
		}
	}
	simd.SetThreads(max(1, runtime.NumCPU()/c.workers))
	t0 := time.Now()
	sets, err := loadDatasets(c.shared, c.split, b)
	if err != nil {
		return err
	}
	byName := map[string]*dataset{}
	var names []string
	for _, d := range sets {
		byName[d.name] = d
		names = append(names, d.name)
	}
	fmt.Fprintf(log, "data loaded and tokenized in %.0fs\n", time.Since(t0).Seconds())
	runs := filterRuns(planRuns(names, meths, []float64{0.2, 0.5}, seeds, abl), c.only)
	rep := &report{cfg: c, mach: mach, budget: b, sets: sets, date: time.Now().UTC(), dense: map[string]*outcome{}, methods: meths, ablations: abl}
	cache := runCache{dir: c.cache, commit: mach.version(), budget: b.key()}

	// The dense rows, and a probe of each model's step time for the estimate.
	stepSecs, evalSecs := map[string]float64{}, map[string]float64{}
	for _, d := range sets {
		o, err := d.denseOutcome(ctx, b)
		if err != nil {
			return fmt.Errorf("%s dense: %w", d.name, err)
		}
		rep.dense[d.name] = o
		evalSecs[d.name] = o.Seconds.Eval
		if stepSecs[d.name], err = d.probeStep(ctx, b); err != nil {
			return fmt.Errorf("%s: timing a step: %w", d.name, err)
		}
	}
	var todo []spec
	for _, s := range runs {
		if o := cache.load(s, c.split); o != nil {
			rep.add(o)
		} else {
			todo = append(todo, s)
		}
	}
	est := 0.0
	for _, s := range todo {
		est += estimate(s, b, stepSecs[s.Model], evalSecs[s.Model])
	}
	est /= float64(min(c.workers, max(1, len(todo))))
	fmt.Fprintf(log, "%d runs (%d cached), %d workers: about %s (from a probe of each model's training step: %s)\n",
		len(runs), len(runs)-len(todo), c.workers, duration(est), stepSummary(stepSecs))
	if err := rep.write(); err != nil {
		return err
	}

	type result struct {
		s   spec
		o   *outcome
		err error
	}
	jobs, results := make(chan spec), make(chan result)
	for range c.workers {
		go func() {
			for s := range jobs {
				o, err := byName[s.Model].execute(ctx, s, b)
				results <- result{s, o, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, s := range todo {
			select {
			case jobs <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	start, failed := time.Now(), 0
	for i := range todo {
		r := <-results
		if r.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			rep.failures = append(rep.failures, fmt.Sprintf("%s: %v", r.s, r.err))
			fmt.Fprintf(log, "[%d/%d] %s FAILED: %v\n", i+1, len(todo), r.s, r.err)
		} else {
			if err := cache.store(r.o); err != nil {
				return err
			}
			rep.add(r.o)
			left := time.Duration(float64(time.Since(start)) / float64(i+1) * float64(len(todo)-i-1))
			fmt.Fprintf(log, "[%d/%d] %s: ppl %.3f, ood %.2f; prune %.0fs recover %.0fs eval %.0fs; about %s left (process CPU so far %s)\n",
				i+1, len(todo), r.s, r.o.PPL, r.o.OOD, r.o.Seconds.Prune, r.o.Seconds.Recover, r.o.Seconds.Eval, duration(left.Seconds()), duration(cpuSeconds()))
		}
		if err := rep.write(); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "wrote %s in %s (process CPU %s)\n", c.out, duration(time.Since(t0).Seconds()), duration(cpuSeconds()))
	if failed > 0 {
		return fmt.Errorf("%d runs failed (listed in %s)", failed, c.out)
	}
	return nil
}

// filterRuns keeps the runs whose name contains one of the
// comma-separated substrings of only (all for "").
func filterRuns(runs []spec, only string) []spec {
	if only == "" {
		return runs
	}
	var out []spec
	for _, s := range runs {
		for _, w := range strings.Split(only, ",") {
			if w != "" && strings.Contains(s.String(), w) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// probeStep is a recovery step's time on the model (the budget's batch,
// context and recovery mode, this run's threads): a few steps' training
// throughput, without the stage's set-up and dev evaluations.
func (d *dataset) probeStep(ctx context.Context, b budget) (float64, error) {
	ropt := b.Recover
	ropt.Stage1Steps, ropt.Stage2Steps, ropt.EvalEvery, ropt.EstimateEvery, ropt.Dev = 3, 0, 0, 1000, d.dev[:min(1, len(d.dev))]
	rep, err := prune.Recover(ctx, d.dense.Clone(), d.dense, d.subsets, nil, ropt, nil)
	if err != nil {
		return 0, err
	}
	if !(rep.Stage1.TokensPerS > 0) {
		return 0, fmt.Errorf("no throughput measured")
	}
	return float64(b.recoverStepTokens()) / rep.Stage1.TokensPerS, nil
}

// estimate is a run's rough time: its training steps at the probed rate
// (the knowledge analysis and LHSPG's projections not counted), plus the
// dense model's evaluation time.
func estimate(s spec, b budget, step, eval float64) float64 {
	steps := b.stage1Steps(s.Method) + b.Recover.Stage2Steps
	if s.Method == "lorashear" {
		steps += b.Prune.LHSPG.TotalSteps()
	}
	return float64(steps)*step + eval
}

func stepSummary(secs map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(secs)) {
		parts = append(parts, fmt.Sprintf("%s %.3fs/step", k, secs[k]))
	}
	return strings.Join(parts, ", ")
}

func duration(secs float64) string {
	return (time.Duration(secs) * time.Second).Round(time.Second).String()
}
