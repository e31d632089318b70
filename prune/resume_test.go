package prune

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

func ggufBytes(t *testing.T, m *model.Model) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPruneAndRecoverResume: a pruning run and a recovery run, each
// cancelled mid-way and resumed from its checkpoint, end with exactly the
// bytes of uninterrupted runs — with LoRA recovery, and with distillation
// (in LHSPG and recovery) and full-rank recovery.
func TestPruneAndRecoverResume(t *testing.T) {
	t.Run("lora", func(t *testing.T) { testResume(t, false) })
	t.Run("distill-full", func(t *testing.T) { testResume(t, true) })
}

func testResume(t *testing.T, distillFull bool) {
	base := stories(t)
	ex, err := train.LoadText(base.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := train.LoadInstructions(base.Tok, sharedPath(t, "data/tinystories-instruct-dev.jsonl"), 64)
	if err != nil {
		t.Fatal(err)
	}
	data := Data{Train: ex[:120], Calib: ex[120:121]}
	subsets := []Subset{{"a", ex[200:260]}, {"b", ex[260:320]}}
	cfg := DefaultLHSPG()
	cfg.Warmup, cfg.Periods, cfg.PeriodSteps = 3, 2, 3
	ropt := LoRARecover()
	ropt.Stage1Steps, ropt.Stage2Steps, ropt.Batch, ropt.Ctx, ropt.EstimateEvery, ropt.EvalEvery = 6, 4, 2, 64, 2, 2
	run := func(dir string, stopPrune, stopRecover int) []byte {
		m := base.Clone()
		opt := Options{Method: "lorashear", Target: 0.2, Gamma: 0.05, LHSPG: cfg, LoRA: lora.DefaultConfig(),
			Optim: train.Optim{Batch: 2, Ctx: 64, LR: 1e-3, Clip: 1, Seed: 3}, Checkpointing: train.Checkpointing{CheckpointEvery: 2, Resume: true}}
		ropt := ropt
		if distillFull {
			opt.Distill, opt.DistillTemp = 0.5, 2
			ropt.Distill, ropt.DistillTemp, ropt.Full, ropt.Stage2LR = 0.5, 2, true, 1e-4
		}
		if dir != "" {
			opt.Checkpoint, ropt.Checkpoint, ropt.Resume = filepath.Join(dir, "prune"), filepath.Join(dir, "recover"), true
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cm, _, err := Prune(ctx, m, opt, data, func(stage string, done, total int, _ float64) {
			if stage == "lhspg" && done == stopPrune {
				cancel()
			}
		})
		if stopPrune > 0 {
			if err == nil {
				t.Fatal("cancelled prune did not stop")
			}
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = Recover(ctx, cm, base, subsets, ins[:40], ropt, func(stage string, s train.StepInfo) {
			if stage == "recover-1" && s.Step == stopRecover {
				cancel()
			}
		})
		if stopRecover > 0 {
			if err == nil {
				t.Fatal("cancelled recovery did not stop")
			}
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return ggufBytes(t, cm)
	}
	straight := run("", 0, 0)
	dir := t.TempDir()
	run(dir, 5, 0) // killed inside LHSPG
	run(dir, 0, 3) // resumed, then killed inside recovery
	resumed := run(dir, 0, 0)
	if !bytes.Equal(straight, resumed) {
		t.Error("the resumed pipeline ended with a different model")
	}
}
