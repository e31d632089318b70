package prune

import (
	"context"
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

// TestProjectionZeroesGroup: with λ so large that the trial step crosses
// the origin, ⟨x̂, x⟩ < 0 and the group is set to exactly zero, while the
// base rows of kept groups are untouched.
func TestProjectionZeroesGroup(t *testing.T) {
	cfg := DefaultLHSPG()
	cfg.Target, cfg.Lambda0, cfg.LambdaCap, cfg.PeriodSteps = 0.1, 1e6, 1e9, 100
	p, tokens, targets := tinyLHSPG(t, cfg)
	red, kept := 3, 4 // two MLP channels of layer 0 (ids 0..1 are attention)
	if p.G.Groups[red].Kind != "mlp" || p.G.Groups[kept].Kind != "mlp" {
		t.Fatalf("groups 3, 4 are %s, %s", p.G.Groups[red].Kind, p.G.Groups[kept].Kind)
	}
	p.Redundant, p.Lambda[red] = []int{red}, 1e6
	keptBefore := p.view(kept).save()
	if _, err := p.Step(tokens, targets, 0, 100, 1e-2, 1, true); err != nil {
		t.Fatal(err)
	}
	if !p.Zero[red] || !isZero(snapshot(p, red)) {
		t.Error("redundant group meeting the projection condition is not exactly zero")
	}
	// Base rows of the kept group: only LoRA B moved (it is part of save()).
	keptAfter := p.view(kept).save()
	v := p.view(kept)
	baseLen := 0
	for _, s := range v.base {
		baseLen += s.n
	}
	if !slices.Equal(keptBefore[:baseLen], keptAfter[:baseLen]) {
		t.Error("the projection touched a kept group's base rows")
	}
	// Zero groups stay zero through later optimizer steps.
	for i := 0; i < 3; i++ {
		p.Step(tokens, targets, 1+i, 100, 1e-2, 1, true)
	}
	if !isZero(snapshot(p, red)) {
		t.Error("a zero group came back")
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
	opt := Options{Method: "lorashear", Target: 0.2, Gamma: 0.1, LHSPG: cfg, LoRA: lora.DefaultConfig(), Batch: 4, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 1}
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
