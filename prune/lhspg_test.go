package prune

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

func tinyLHSPG(t *testing.T, cfg LHSPGConfig) (*LHSPG, []int, []int) {
	c := model.UniformConfig(16, 24, 2, 4, 2, 30, 32)
	m, err := model.NewRandom(c, tensor.F32, 3)
	if err != nil {
		t.Fatal(err)
	}
	lc := lora.DefaultConfig()
	lc.Rank, lc.Dropout = 2, 0
	tr, err := train.New(m, train.Options{LoRA: lc, Batch: 2, Ctx: 8, Seed: 1, BaseGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.Build(m, graph.Options{LoRARank: 2})
	p, err := NewLHSPG(cfg, tr, g, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	tokens, targets := make([]int, 16), make([]int, 16)
	for i := range tokens {
		tokens[i], targets[i] = rng.IntN(30), rng.IntN(30)
	}
	return p, tokens, targets
}

func snapshot(p *LHSPG, id int) []float32 {
	v := p.view(id)
	x := make([]float32, v.size)
	v.merged(x, nil)
	return x
}

func isZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// baseOf copies a group's base entries (W_g, no LoRA).
func baseOf(v *groupView) []float32 {
	n := 0
	for _, s := range v.base {
		n += s.n
	}
	return v.save()[:n]
}

func bOf(v *groupView) []float32 {
	y := make([]float32, v.bSize())
	v.readB(y)
	return y
}

// warmTwin returns two identical LHSPG states after a few warm-up steps
// (so B ≠ 0), with the tiny model's data.
func warmTwin(t *testing.T, cfg LHSPGConfig) (*LHSPG, *LHSPG, []int, []int) {
	p, tokens, targets := tinyLHSPG(t, cfg)
	q, _, _ := tinyLHSPG(t, cfg)
	for s := 0; s < 3; s++ {
		for _, x := range []*LHSPG{p, q} {
			if _, err := x.Step(tokens, targets, 0, 1, 1e-2, 1, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	return p, q, tokens, targets
}

// TestTrialStepThroughLoRA: inside a period the redundant group's B_g moves
// by AdamW's step plus −η·λ·y/‖y‖ (computed here in float64 from a twin
// state that took the plain AdamW step), then fades by (T−t−1)/(T−t); W_g
// only fades; every other B row, A and base entry is what plain AdamW
// gives. With ε just above the trial step's ⟨ŷ, y⟩/‖y‖² the projection
// zeroes B_g for good, just below it does not.
func TestTrialStepThroughLoRA(t *testing.T) {
	const red, kept, lr, tt, T = 3, 4, 1e-2, 2, 10 // two MLP channels of layer 0 (0..1 are attention)
	cfg := DefaultLHSPG()
	cfg.Target = 0.1
	p, plain, tokens, targets := warmTwin(t, cfg)
	if p.G.Groups[red].Kind != "mlp" || p.G.Groups[kept].Kind != "mlp" {
		t.Fatalf("groups 3, 4 are %s, %s", p.G.Groups[red].Kind, p.G.Groups[kept].Kind)
	}
	v := p.view(red)
	y, w := bOf(v), baseOf(v)
	p.Redundant = []int{red}
	if _, err := p.Step(tokens, targets, tt, T, lr, 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Step(tokens, targets, tt, T, lr, 1, true); err != nil {
		t.Fatal(err)
	}
	ya := bOf(plain.view(red)) // y − η·d
	var dot, ny, nd float64
	for i := range y {
		d := (float64(y[i]) - float64(ya[i])) / lr
		dot, ny, nd = dot+float64(y[i])*d, ny+float64(y[i])*float64(y[i]), nd+d*d
	}
	ny, nd = math.Sqrt(ny), math.Sqrt(nd)
	lam := dhspgLambda(dot, ny, nd, cfg.Lambda0, cfg.Amplify, cfg.LambdaCap)
	f := float32(T-tt-1) / float32(T-tt)
	got := bOf(v)
	var ratio float64
	for i := range y {
		yh := float64(ya[i]) - lr*lam*float64(y[i])/ny
		ratio += yh * float64(y[i]) / (ny * ny)
		if want := float32(yh) * f; math.Abs(float64(got[i]-want)) > 1e-6*math.Abs(float64(want))+1e-9 {
			t.Fatalf("B_g[%d] = %g, want %g", i, got[i], want)
		}
	}
	if p.Lambda[red] != lam {
		t.Errorf("λ_g = %g, want %g", p.Lambda[red], lam)
	}
	for i, x := range baseOf(v) {
		if x != w[i]*f {
			t.Fatalf("W_g[%d] = %g, want only faded %g", i, x, w[i]*f)
		}
	}
	for _, id := range []int{kept, 0, 7} {
		if !slices.Equal(p.view(id).save(), plain.view(id).save()) {
			t.Errorf("group %d: the trial step touched a group that is not redundant", id)
		}
	}
	t.Logf("λ %.4g, ⟨ŷ, y⟩/‖y‖² = %.6f", lam, ratio)

	cfg.EpsilonStep = 0 // a fixed ε
	for _, above := range []bool{true, false} {
		cfg.Epsilon = ratio - 1e-4
		if above {
			cfg.Epsilon = ratio + 1e-4
		}
		p, _, _, _ := warmTwin(t, cfg)
		p.Redundant = []int{red}
		p.Step(tokens, targets, tt, T, lr, 1, true)
		_, fired := p.Projected[red]
		if fired != above || isZero(bOf(p.view(red))) != above {
			t.Fatalf("ε %.6f against ratio %.6f: projected %v, B_g zero %v", cfg.Epsilon, ratio, fired, isZero(bOf(p.view(red))))
		}
		if above {
			// B_g stays zero; W_g keeps fading and is zero at the period's end.
			for s := tt + 1; s < T; s++ {
				p.Step(tokens, targets, s, T, lr, 1, true)
				if !isZero(bOf(p.view(red))) {
					t.Fatal("a projected B_g came back")
				}
			}
			if !p.Zero[red] || !isZero(snapshot(p, red)) {
				t.Error("the projected group is not zero at the period's end")
			}
			if np, nf := p.ZeroedCounts(); np != 1 || nf != 0 {
				t.Errorf("zeroed by projection %d, by forgetting %d; want 1, 0", np, nf)
			}
		}
	}
}

// TestAdaptiveEpsilon: ε grows by its step at every check in which the
// projection zeroed fewer than 1% of the period's groups, and stays where
// it is at a check that saw progress (OTO's HSPG.adapt_epsilon).
func TestAdaptiveEpsilon(t *testing.T) {
	cfg := DefaultLHSPG()
	cfg.Target, cfg.Epsilon, cfg.EpsilonStep, cfg.EpsilonEvery = 0.1, 0.05, 0.1, 2
	p, _, _ := tinyLHSPG(t, cfg)
	ids := []int{2, 3, 4, 5, 6}
	p.Projected = map[int]int{3: 4, 5: 4, 6: 9}
	// Checks at 2, 4, 6, 8, 10, 12: projected before them 0, 0, 2, 2, 3, 3.
	want := []float64{0.05, 0.05, 0.15, 0.15, 0.25, 0.25, 0.25, 0.25, 0.35, 0.35, 0.35, 0.35, 0.45}
	for tt, w := range want {
		if got := p.epsilon(ids, tt); math.Abs(got-w) > 1e-12 {
			t.Errorf("step %d: ε %.3f, want %.3f", tt, got, w)
		}
	}
	cfg.Epsilon = 0.95
	p.Cfg = cfg
	if got := p.epsilon(ids, 12); got != 0.999 {
		t.Errorf("ε %.4f, want the cap 0.999", got)
	}
	p.Cfg.EpsilonStep = 0
	if got := p.epsilon(ids, 12); got != 0.95 {
		t.Errorf("fixed ε %.4f, want 0.95", got)
	}
}

// TestDHSPGLambda: λ_g against the cases of DHSPG's rule, and on random
// vectors the two properties its bounds stand for — the step
// −(d + λ·y/‖y‖) moves y toward zero (⟨d + λ·y/‖y‖, y⟩ ≥ 0) whenever
// λ0 ≤ amplify·lo and lo ≤ λ0·cap, and it is no ascent direction (⟨d + λ·y/‖y‖, d⟩ ≥ 0).
func TestDHSPGLambda(t *testing.T) {
	const l0, amp, capc = 1e-2, 20, 1e3
	cases := []struct {
		name              string
		dot, ny, nd, want float64
	}{
		{"toward zero already", 0.5, 1, 1, l0},
		{"amplified lower bound", -1e-3, 1, 1, 20 * 1e-3},    // lo 1e-3, hi 1e3
		{"at least λ0", -1e-5, 1, 1, l0},                     // 20·lo = 2e-4 < λ0
		{"at most λ0·cap", -1, 1, 1e4, l0 * capc},            // 20·lo = 20 > 10, hi 1e8
		{"midpoint above hi", -0.9, 1, 1, (0.9 + 1/0.9) / 2}, // 20·lo = 18 clipped to 10 ≥ hi 1.11
		{"zero y", -1, 0, 1, l0},
	}
	for _, c := range cases {
		if got := dhspgLambda(c.dot, c.ny, c.nd, l0, amp, capc); math.Abs(got-c.want) > 1e-12*c.want {
			t.Errorf("%s: λ = %g, want %g", c.name, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for trial := 0; trial < 2000; trial++ {
		n := 1 + rng.IntN(8)
		y, d := make([]float64, n), make([]float64, n)
		var dot, ny, nd float64
		scale := math.Pow(10, rng.Float64()*4-3)
		for i := range y {
			y[i], d[i] = rng.NormFloat64(), scale*rng.NormFloat64()
			dot, ny, nd = dot+y[i]*d[i], ny+y[i]*y[i], nd+d[i]*d[i]
		}
		ny, nd = math.Sqrt(ny), math.Sqrt(nd)
		lam := dhspgLambda(dot, ny, nd, l0, amp, capc)
		if lam < l0 && dot < 0 && lam < -dot/ny*(1-1e-12) {
			t.Fatalf("λ %g below both λ0 and the lower bound %g", lam, -dot/ny)
		}
		var shrink, descent float64
		for i := range y {
			s := d[i] + lam*y[i]/ny
			shrink, descent = shrink+s*y[i], descent+s*d[i]
		}
		if lo := -dot / ny; dot < 0 && amp*lo >= l0 && lo <= l0*capc && shrink < -1e-12*nd*ny {
			t.Fatalf("trial %d: ⟨d + λy/‖y‖, y⟩ = %g < 0 (λ %g)", trial, shrink, lam)
		}
		if descent < -1e-9*nd*nd { // = 0 only where y ∥ d: then lo = hi = λ
			t.Fatalf("trial %d: ⟨d + λy/‖y‖, d⟩ = %g < 0 (λ %g)", trial, descent, lam)
		}
	}
}

// TestNoTransferKeepsSteps: the no-transfer ablation takes every step; in
// a period the redundant B_g still moves, while A and the B rows of kept
// groups stay as they were.
func TestNoTransferKeepsSteps(t *testing.T) {
	const red = 3
	cfg := DefaultLHSPG()
	cfg.Target, cfg.NoTransfer = 0.1, true
	p, _, tokens, targets := warmTwin(t, cfg)
	p.Redundant = []int{red}
	before := map[string][]float32{}
	for _, q := range p.Tr.Params() {
		before[q.Name] = slices.Clone(q.W)
	}
	yBefore := bOf(p.view(red))
	steps := p.Opt.Steps
	if _, err := p.Step(tokens, targets, 0, 10, 1e-2, 1, true); err != nil {
		t.Fatal(err)
	}
	if p.Opt.Steps != steps+1 {
		t.Errorf("AdamW took %d steps, want 1", p.Opt.Steps-steps)
	}
	if slices.Equal(bOf(p.view(red)), yBefore) {
		t.Error("the redundant B_g did not move")
	}
	// Undo the redundant rows' change and the rest must be as before.
	p.view(red).writeB(yBefore)
	for _, q := range p.Tr.Params() {
		if !slices.Equal(q.W, before[q.Name]) {
			t.Errorf("%s moved under no-transfer", q.Name)
		}
	}
}

// TestForgettingReachesZero: with the decay variant every redundant group
// is exactly zero at the end of its period, and not before.
func TestForgettingReachesZero(t *testing.T) {
	cfg := DefaultLHSPG()
	cfg.Target, cfg.Variant, cfg.PeriodSteps = 0.1, "decay", 5
	p, tokens, targets := tinyLHSPG(t, cfg)
	p.GrowRedundant(cfg.Periods - 1)
	for s := 0; s < 5; s++ {
		p.Step(tokens, targets, s, 5, 1e-3, 1, true)
		for _, id := range p.Redundant {
			if z := isZero(snapshot(p, id)); z != (s == 4) {
				t.Fatalf("step %d: group %d zero = %v", s, id, z)
			}
		}
	}
}

// TestTargetReached: after the last period's growth the redundant groups
// remove at least the target, and dropping the last one falls short. With
// balanced kind targets each kind meets its own share the same way.
func TestTargetReached(t *testing.T) {
	for _, balanced := range []bool{false, true} {
		for _, target := range []float64{0.05, 0.2, 0.35} {
			cfg := DefaultLHSPG()
			cfg.Target, cfg.Balanced = target, balanced
			p, _, _ := tinyLHSPG(t, cfg)
			for period := 0; period < cfg.Periods; period++ {
				p.GrowRedundant(period)
				_, all := p.removed()
				if goal := float64(period+1) / float64(cfg.Periods) * target * float64(p.Total); float64(all) < goal*0.999 {
					t.Errorf("balanced=%v target %v period %d: %d parameters chosen, goal %.0f", balanced, target, period, all, goal)
				}
			}
			_, all := p.removed()
			// The last group taken of each kind: without it, that kind (or the
			// whole, unbalanced) falls short.
			last := map[string]int{}
			for _, id := range p.Redundant {
				last[p.G.Groups[id].Kind] = p.G.Groups[id].Params
			}
			slack := 0
			for _, n := range last {
				slack += n
			}
			if !balanced {
				slack = p.G.Groups[p.Redundant[len(p.Redundant)-1]].Params
			}
			if goal := target * float64(p.Total); float64(all) < goal*0.999 || float64(all-slack) >= goal {
				t.Errorf("balanced=%v target %v: %d chosen, slack %d, goal %.0f", balanced, target, all, slack, goal)
			}
		}
	}
}

// TestPruneRunsOnStories: the whole LoRAShear stage on stories260K with a
// tiny budget removes about the target and gives a working model.
func TestPruneRunsOnStories(t *testing.T) {
	m := stories(t)
	ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLHSPG()
	cfg.Warmup, cfg.Periods, cfg.PeriodSteps = 4, 2, 4
	opt := Options{Method: "lorashear", Target: 0.2, Gamma: 0.1, LHSPG: cfg, LoRA: lora.DefaultConfig(), Optim: train.Optim{Batch: 4, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 1}}
	cm, rep, err := Prune(context.Background(), m, opt, Data{Train: ex[:200], Calib: ex[200:204]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ratio < 0.19 || rep.Ratio > 0.23 {
		t.Errorf("removed %.3f of the parameters, target 0.2", rep.Ratio)
	}
	if _, err := cm.NewState(8, 8).Forward([]int{1, 2, 3}, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("ratio %.3f, widths heads %v ffn %v, %.1fs", rep.Ratio, rep.Heads, rep.FFN, rep.Seconds["lhspg"])
}

// storiesLHSPG runs the LoRAShear stage on stories260K with the default
// LHSPG settings (λ0, amplify, cap, ε, variant, warm-up, periods) and the
// CLI's learning rate, changed by edit, and returns the pruned model's
// bytes and the report.
func storiesLHSPG(t *testing.T, edit func(*LHSPGConfig)) ([]byte, *Report) {
	t.Helper()
	m := stories(t)
	ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLHSPG()
	if edit != nil {
		edit(&cfg)
	}
	opt := Options{Method: "lorashear", Target: 0.2, LHSPG: cfg, LoRA: lora.DefaultConfig(), Optim: train.Optim{Batch: 4, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 1}}
	cm, rep, err := Prune(context.Background(), m, opt, Data{Train: ex[:400]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ggufBytes(t, cm), rep
}

// TestProjectionFiresUnderDefaults: with the default settings the
// half-space projection zeroes the trainable part of some redundant groups
// before forgetting finishes them, every redundant group ends zero, and
// the no-projection ablation then gives a different model.
func TestProjectionFiresUnderDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a full LHSPG run")
	}
	with, rep := storiesLHSPG(t, nil)
	t.Logf("projection zeroed %d groups, forgetting %d (of %d removed)", rep.ZeroedByProjection, rep.ZeroedByForgetting, rep.RemovedGroups)
	if rep.ZeroedByProjection == 0 {
		t.Error("the half-space projection never fired under the defaults")
	}
	if rep.ZeroedByProjection+rep.ZeroedByForgetting < rep.RemovedGroups {
		t.Errorf("%d + %d zeroed, %d removed", rep.ZeroedByProjection, rep.ZeroedByForgetting, rep.RemovedGroups)
	}
	without, rep0 := storiesLHSPG(t, func(c *LHSPGConfig) { c.NoProjection = true })
	if rep0.ZeroedByProjection != 0 {
		t.Errorf("no-projection reports %d groups zeroed by projection", rep0.ZeroedByProjection)
	}
	if bytes.Equal(with, without) {
		t.Error("the no-projection ablation gives the same model")
	}
}

// TestLHSPGOnF16Base: LoRAShear over an f16 base, kept f16 (no float32
// copy), gives the model that the same values held in float32 give, up to
// the rounding of the faded weights to f16: the same groups removed and
// the same held-out loss within 0.2%.
func TestLHSPGOnF16Base(t *testing.T) {
	if testing.Short() {
		t.Skip("two LHSPG runs")
	}
	run := func(dt tensor.DType) (*model.Model, *Report, []train.Example) {
		m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F16})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Convert(dt); err != nil { // f16 values, exactly, in float32
			t.Fatal(err)
		}
		ex, err := train.LoadText(m.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultLHSPG()
		cfg.Warmup, cfg.Periods, cfg.PeriodSteps = 6, 2, 6
		opt := Options{Method: "lorashear", Target: 0.2, Gamma: 0.1, LHSPG: cfg, LoRA: lora.DefaultConfig(), Optim: train.Optim{Batch: 4, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 1}}
		cm, rep, err := Prune(context.Background(), m, opt, Data{Train: ex[:200], Calib: ex[200:216]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Matrices() {
			if w := *r.Mat; w.DType != dt {
				t.Fatalf("%s became %s while pruning a %s base", r.Name, w.DType, dt)
			}
		}
		return cm, rep, ex[300:340]
	}
	c16, r16, held := run(tensor.F16)
	c32, r32, _ := run(tensor.F32)
	if !slices.Equal(r16.RemovedIDs, r32.RemovedIDs) {
		t.Errorf("f16 base removed %v, f32 %v", r16.RemovedIDs, r32.RemovedIDs)
	}
	l16, err := Loss(c16, held)
	if err != nil {
		t.Fatal(err)
	}
	l32, err := Loss(c32, held)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out loss: f16 base %.5f, f32 base %.5f", l16, l32)
	if math.Abs(l16-l32) > 2e-3*l32 {
		t.Errorf("held-out loss %.5f with the f16 base, %.5f with f32", l16, l32)
	}
}
