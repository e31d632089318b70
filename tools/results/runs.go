package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
)

// budget is what every run gets: the CLI's defaults (`shear lorashear`'s
// request), with the step counts times -scale.
type budget struct {
	Prune     prune.Options        `json:"prune"`
	Recover   prune.RecoverOptions `json:"recover"`
	CalibSeqs int                  `json:"calib_seqs"`
	Subsets   int                  `json:"subsets"`
	Chunks    int                  `json:"chunks"`   // perplexity chunks of 256 tokens (at most)
	MCItems   int                  `json:"mc_items"` // cloze items scored (0: the whole half)
	DevSeqs   int                  `json:"dev_seqs"` // validation sequences of recovery's early stopping (0: all, of which train.Run reads 64)
}

func newBudget(scale float64, quick bool) budget {
	opt, ropt := protocol.Defaults()
	b := budget{Prune: opt, Recover: ropt, CalibSeqs: protocol.CalibSeqs, Subsets: protocol.Subsets, Chunks: protocol.EvalChunks}
	if quick { // a smoke test of the driver, not a measurement
		b.Prune.LHSPG.Warmup, b.Prune.LHSPG.Periods, b.Prune.LHSPG.PeriodSteps = 2, 2, 2
		b.Recover.Stage1Steps, b.Recover.Stage2Steps = 4, 2
		b.Prune.Batch, b.Prune.Ctx, b.Recover.Batch, b.Recover.Ctx = 2, 64, 2, 64
		b.Prune.Confirm, b.CalibSeqs, b.Chunks, b.MCItems, b.DevSeqs = 4, 4, 3, 16, 4
	}
	steps := func(n *int) { *n = max(1, int(math.Round(float64(*n)*scale))) }
	steps(&b.Prune.LHSPG.Warmup)
	steps(&b.Prune.LHSPG.PeriodSteps)
	steps(&b.Recover.Stage1Steps)
	steps(&b.Recover.Stage2Steps)
	return b
}

// LHSPG's steps train on batch × ctx tokens each, like recovery's.
func (b budget) lhspgTokens() int {
	return b.Prune.LHSPG.TotalSteps() * b.Prune.Batch * b.Prune.Ctx
}
func (b budget) recoverStepTokens() int { return b.Recover.Batch * b.Recover.Ctx }

// totalTokens is every method's training budget: LoRAShear's LHSPG steps
// plus recovery, a one-shot method's recovery alone with those tokens
// added to stage 1.
func (b budget) totalTokens() int {
	return b.lhspgTokens() + (b.Recover.Stage1Steps+b.Recover.Stage2Steps)*b.recoverStepTokens()
}

// stage1Steps is a method's recovery stage 1: the default, plus (for a
// method that trains nothing while pruning) the LHSPG tokens in steps.
func (b budget) stage1Steps(method string) int {
	if method == "lorashear" {
		return b.Recover.Stage1Steps
	}
	return b.Recover.Stage1Steps + (b.lhspgTokens()+b.recoverStepTokens()-1)/b.recoverStepTokens()
}

// key names the budget in run cache keys.
func (b budget) key() string {
	j, _ := json.Marshal(b)
	return fmt.Sprintf("%x", sha256.Sum256(j))[:12]
}

// ablations of LoRAShear (prune.LHSPGConfig), run at both ratios.
var ablations = []string{"decay", "no-projection", "no-transfer"}

// excluded lists methods of prune.Methods the driver skips, and why.
var excluded = map[string]string{}

// spec is one run.
type spec struct {
	Model    string  `json:"model"`
	Method   string  `json:"method"`
	Ablation string  `json:"ablation,omitempty"` // LoRAShear with one part changed
	Ratio    float64 `json:"ratio"`
	Seed     uint64  `json:"seed"`
}

// row is the table row a run is averaged into.
func (s spec) row() string {
	if s.Ablation != "" {
		return s.Method + " " + s.Ablation
	}
	return s.Method
}

func (s spec) String() string {
	return fmt.Sprintf("%s/%s@%.0f%%/s%d", s.Model, s.row(), 100*s.Ratio, s.Seed)
}

// planRuns lists the runs, seed by seed (a partial run has every row's
// first seed), the method comparison before the ablations.
func planRuns(models []string, methods []string, ratios []float64, seeds int, withAblations bool) []spec {
	var out []spec
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, m := range models {
			for _, r := range ratios {
				for _, meth := range methods {
					out = append(out, spec{Model: m, Method: meth, Ratio: r, Seed: seed})
				}
			}
		}
		if !withAblations {
			continue
		}
		for _, m := range models {
			for _, r := range ratios {
				for _, a := range ablations {
					out = append(out, spec{Model: m, Method: "lorashear", Ablation: a, Ratio: r, Seed: seed})
				}
			}
		}
	}
	return out
}

// methods is prune.Methods without the exclusions.
func methods() []string {
	return slices.DeleteFunc(slices.Clone(prune.Methods), func(m string) bool { _, ok := excluded[m]; return ok })
}

// outcome is one run's measurements, as cached.
type outcome struct {
	Spec        spec    `json:"spec"`
	Split       string  `json:"split"`
	Params      int     `json:"params"`
	Removed     float64 `json:"removed"` // fraction of parameters removed
	PPL         float64 `json:"ppl"`
	Acc         float64 `json:"acc"`
	AccNorm     float64 `json:"acc_norm"`
	OOD         float64 `json:"ood_ppl"`
	Heads       []int   `json:"heads"`
	KVHeads     []int   `json:"kv_heads"`
	FFN         []int   `json:"ffn"`
	ByProj      int     `json:"zeroed_by_projection"`
	ByForget    int     `json:"zeroed_by_forgetting"`
	Tokens      int     `json:"train_tokens"` // trained on: LHSPG steps + recovery steps run, × batch × ctx
	Stage1Steps int     `json:"stage1_steps"` // run (early stopping may end a stage sooner)
	Stage2Steps int     `json:"stage2_steps"`
	Stage1Best  int     `json:"stage1_best,omitempty"` // step whose weights early stopping kept (0: the last)
	// Knowledge is the analysis's mean loss deviation per kind and layer
	// (lorashear; NaN cells, no group there, are null).
	Knowledge map[string][]*float64 `json:"knowledge,omitempty"`
	Seconds   struct {
		Prune, Recover, Eval float64
	} `json:"seconds"`
}

// execute runs s: prune, recover, evaluate.
func (d *dataset) execute(ctx context.Context, s spec, b budget) (*outcome, error) {
	opt := b.Prune
	opt.Method, opt.Target, opt.Seed = s.Method, s.Ratio, s.Seed
	switch s.Ablation {
	case "":
	case "decay":
		opt.LHSPG.Variant = "decay"
	case "no-projection":
		opt.LHSPG.NoProjection = true
	case "no-transfer":
		opt.LHSPG.NoTransfer = true
	default:
		return nil, fmt.Errorf("unknown ablation %q", s.Ablation)
	}
	ropt := b.Recover
	ropt.Seed, ropt.Dev, ropt.Stage1Steps = s.Seed, d.dev, b.stage1Steps(s.Method)
	o := &outcome{Spec: s, Split: d.split}
	t0 := time.Now()
	data := protocol.CutPruneData(d.text[:len(d.text):len(d.text)], d.plan.Instruct, nil, b.CalibSeqs, s.Seed)
	cm, rep, err := prune.Prune(ctx, d.dense.Clone(), opt, data, nil)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	o.Seconds.Prune = time.Since(t0).Seconds()
	t0 = time.Now()
	rrep, err := prune.Recover(ctx, cm, d.dense, d.subsets, d.plan.Instruct, ropt, nil)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	o.Seconds.Recover = time.Since(t0).Seconds()
	if err := d.measure(ctx, cm, b, o); err != nil {
		return nil, err
	}
	o.Params, o.Removed = rep.ParamsAfter, rep.Ratio
	o.Heads, o.KVHeads, o.FFN = rep.Heads, rep.KVHeads, rep.FFN
	o.ByProj, o.ByForget = rep.ZeroedByProjection, rep.ZeroedByForgetting
	o.Stage1Steps, o.Stage1Best = rrep.Stage1.Steps, rrep.Stage1.BestStep
	if rrep.Stage2 != nil {
		o.Stage2Steps = rrep.Stage2.Steps
	}
	pruneTokens := 0
	if s.Method == "lorashear" {
		pruneTokens = b.lhspgTokens()
	}
	o.Tokens = pruneTokens + (o.Stage1Steps+o.Stage2Steps)*b.recoverStepTokens()
	if rep.Analysis != nil {
		o.Knowledge = map[string][]*float64{}
		for k, v := range rep.Analysis.LayerKindMeans(d.graph) {
			for _, x := range v {
				var p *float64
				if !math.IsNaN(x) {
					p = &x
				}
				o.Knowledge[k] = append(o.Knowledge[k], p)
			}
		}
	}
	return o, nil
}

// denseOutcome evaluates the dense model (the ratio-0 row).
func (d *dataset) denseOutcome(ctx context.Context, b budget) (*outcome, error) {
	o := &outcome{Spec: spec{Model: d.name, Method: "dense"}, Split: d.split, Params: d.dense.Params()}
	return o, d.measure(ctx, d.dense, b, o)
}

// measure evaluates m on the split's text and cloze items and on the
// out-of-domain text, into o.
func (d *dataset) measure(ctx context.Context, m *model.Model, b budget, o *outcome) error {
	t0 := time.Now()
	q, err := protocol.Evaluate(ctx, m, d.eval, b.Chunks, d.mc)
	if err != nil {
		return err
	}
	ood, err := protocol.Evaluate(ctx, m, d.ood, b.Chunks, nil)
	if err != nil {
		return err
	}
	o.Seconds.Eval = time.Since(t0).Seconds()
	o.PPL, o.OOD = q.PPL, ood.PPL
	if q.Acc != nil {
		o.Acc, o.AccNorm = *q.Acc, *q.AccNorm
	}
	return nil
}

// runCache keeps one JSON per finished run, keyed by model, method,
// ratio, seed, split, budget and commit, so an interrupted driver
// resumes where it stopped.
type runCache struct {
	dir    string // "" caches nothing
	commit string
	budget string
}

func (c runCache) path(s spec, split string) string {
	name := fmt.Sprintf("%s-%s-%s-r%g-s%d-%s-b%s-%s.json", s.Model, s.Method, s.Ablation, s.Ratio, s.Seed, split, c.budget, c.commit)
	return filepath.Join(c.dir, name)
}

func (c runCache) load(s spec, split string) *outcome {
	if c.dir == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(s, split))
	if err != nil {
		return nil
	}
	var o outcome
	if json.Unmarshal(b, &o) != nil || o.Spec != s {
		return nil
	}
	return &o
}

func (c runCache) store(o *outcome) error {
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(o, "", " ")
	if err != nil {
		return err
	}
	p := c.path(o.Spec, o.Split)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
