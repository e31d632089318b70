package prune

import (
	"context"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

func storiesF16(t *testing.T) *model.Model {
	m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRecoveryBudget: the memory budget picks full-rank recovery when its
// estimate fits, LoRA when only that fits (saying why), and refuses with
// the estimate when neither does — before anything is allocated: the
// pruned model is not converted to float32 and no step runs.
func TestRecoveryBudget(t *testing.T) {
	pruned, dense := storiesF16(t), storiesF16(t)
	opt := DefaultRecover()
	opt.Batch, opt.Ctx = 2, 32
	full, err := planRecovery(pruned, dense, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Full = false
	lora, err := planRecovery(pruned, dense, opt)
	if err != nil {
		t.Fatal(err)
	}
	if full.Mode != "full-rank" || lora.Mode != "lora" || lora.Estimate >= full.Estimate {
		t.Fatalf("full-rank plan %+v, LoRA plan %+v", full, lora)
	}
	// The full-rank estimate is what a full trainer and its optimizer hold.
	tr, err := train.New(pruned.Clone(), train.Options{Full: true, Batch: 2, Ctx: 32})
	if err != nil {
		t.Fatal(err)
	}
	tokens, targets := make([]int, 64), make([]int, 64)
	if _, _, err := tr.Step(tokens, targets, 1); err != nil { // the first backward makes the attention tiles
		t.Fatal(err)
	}
	held := tr.Memory()
	held.Optimizer = train.NewAdamW(tr.Params(), 0).Bytes()
	if want := full.Parts.Total() - train.EstimateFor(dense, train.Options{Frozen: true, Batch: 2, Ctx: 32}).Total(); held.Total() != want {
		t.Errorf("a full-rank trainer holds %d bytes, the plan says %d", held.Total(), want)
	}
	opt.Full = true
	for _, c := range []struct {
		budget int64
		mode   string
		reason string
	}{
		{0, "full-rank", "no memory budget"},
		{full.Estimate, "full-rank", "within"},
		{full.Estimate - 1, "lora", "over the"},
		{lora.Estimate, "lora", "LoRA recovery"},
	} {
		opt.Memory = c.budget
		p, err := planRecovery(pruned, dense, opt)
		if err != nil {
			t.Fatalf("budget %d: %v", c.budget, err)
		}
		if p.Mode != c.mode || !strings.Contains(p.Reason, c.reason) {
			t.Errorf("budget %d: %s (%s), want %s (…%s…)", c.budget, p.Mode, p.Reason, c.mode, c.reason)
		}
	}
	opt.Memory = lora.Estimate - 1
	ex := []train.Example{{Tokens: make([]int, 32), Targets: make([]int, 32)}}
	_, err = Recover(context.Background(), pruned, dense, []Subset{{Name: "a", Examples: ex}}, ex, opt, nil)
	if err == nil || !strings.Contains(err.Error(), "over the --memory budget") || !strings.Contains(err.Error(), "GiB") {
		t.Fatalf("a budget below the LoRA estimate gave %v", err)
	}
	for _, r := range pruned.Matrices() {
		if (*r.Mat).DType != tensor.F16 {
			t.Fatalf("%s became %s: the refused recovery allocated", r.Name, (*r.Mat).DType)
		}
	}
}
