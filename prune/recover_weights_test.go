package prune

import (
	"context"
	"math"
	"testing"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// TestSubsetWeighting: dynamic recovery measures δ_i = L_pruned(S_i) −
// L_dense(S_i) on each subset's fixed sample (checked at step 0 against
// the inference loss of both models) and moves the sampling weights by
// w_i ← w_i·exp(η·max(δ_i, 0)), normalised, from equal weights (checked
// in float64 at every estimate); --uniform keeps them equal.
func TestSubsetWeighting(t *testing.T) {
	dense, pruned, ex := magnitudePruned(t)
	subsets := []Subset{{"a", ex[0:40]}, {"b", ex[40:80]}, {"c", ex[80:120]}}
	opt := LoRARecover()
	opt.Stage1Steps, opt.Stage2Steps, opt.Batch, opt.Ctx, opt.EstimateEvery, opt.EvalEvery, opt.SampleSeqs = 6, 0, 2, 64, 2, 0, 2
	wantDelta := make([]float64, len(subsets))
	for i, s := range subsets {
		rest, _ := train.Split(s.Examples, opt.DevFrac, opt.Seed+uint64(i))
		lp, err := Loss(pruned, rest[:opt.SampleSeqs])
		if err != nil {
			t.Fatal(err)
		}
		ld, err := Loss(dense, rest[:opt.SampleSeqs])
		if err != nil {
			t.Fatal(err)
		}
		wantDelta[i] = lp - ld
	}
	for _, uniform := range []bool{false, true} {
		opt.Uniform = uniform
		rep, err := Recover(context.Background(), pruned.Clone(), dense, subsets, nil, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Weights) != 3 || len(rep.Deltas) != 3 {
			t.Fatalf("%d weight and %d δ estimates, want 3 (steps 0, 2, 4)", len(rep.Weights), len(rep.Deltas))
		}
		for i, d := range rep.Deltas[0] {
			if math.Abs(d-wantDelta[i]) > 1e-4 {
				t.Errorf("δ_%d at step 0: %.6f, want %.6f", i, d, wantDelta[i])
			}
		}
		w := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
		for k, deltas := range rep.Deltas {
			if !uniform {
				var sum float64
				for i, d := range deltas {
					w[i] *= math.Exp(opt.Eta * math.Max(d, 0))
					sum += w[i]
				}
				for i := range w {
					w[i] /= sum
				}
			}
			for i := range w {
				if math.Abs(rep.Weights[k][i]-w[i]) > 1e-12 {
					t.Errorf("uniform=%v estimate %d: w_%d = %.15f, want %.15f", uniform, k, i, rep.Weights[k][i], w[i])
				}
			}
		}
		t.Logf("uniform=%v: δ %.3f, weights %.3f", uniform, rep.Deltas, rep.Weights)
	}
}

// TestRecoverDev: with opt.Dev, stage 1's dev loss is measured on those
// sequences (DevLossBefore is the pruned model's inference loss on them)
// and the δ samples come from the whole subsets, none held out for dev.
func TestRecoverDev(t *testing.T) {
	dense, pruned, ex := magnitudePruned(t)
	subsets := []Subset{{"a", ex[0:40]}, {"b", ex[40:80]}}
	opt := LoRARecover()
	opt.Stage1Steps, opt.Stage2Steps, opt.Batch, opt.Ctx, opt.EstimateEvery, opt.EvalEvery, opt.SampleSeqs = 2, 0, 2, 64, 100, 0, 2
	opt.Dev = ex[200:206]
	wantDev, err := Loss(pruned, opt.Dev)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Recover(context.Background(), pruned.Clone(), dense, subsets, nil, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.Stage1.DevLossBefore-wantDev) > 1e-4 {
		t.Errorf("dev loss before %.6f, want the loss on opt.Dev %.6f", rep.Stage1.DevLossBefore, wantDev)
	}
	for i, s := range subsets {
		want, err := Loss(dense, s.Examples[:opt.SampleSeqs])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(rep.DenseLoss[i]-want) > 1e-9 {
			t.Errorf("subset %d: δ sample's dense loss %.6f, want the first %d sequences' %.6f", i, rep.DenseLoss[i], opt.SampleSeqs, want)
		}
	}
}

// magnitudePruned is stories260K, its magnitude-pruned 30%, and the dev
// text in sequences of 64 tokens.
func magnitudePruned(t *testing.T) (dense, pruned *model.Model, ex []train.Example) {
	dense = stories(t)
	ex, err := train.LoadText(dense.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.Build(dense, graph.Options{})
	scores, err := MagnitudeScores(dense, g)
	if err != nil {
		t.Fatal(err)
	}
	if pruned, _, err = Compress(dense.Clone(), nil, g, SelectLowest(g, scores, 0.3, nil, dense.Params())); err != nil {
		t.Fatal(err)
	}
	return dense, pruned, ex
}
