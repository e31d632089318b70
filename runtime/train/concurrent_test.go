package train

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestLoRATrainersShareBase: a Trainer belongs to one goroutine, but LoRA
// trainers only read their base model (the documented rule), so several
// may train adapters on one Model at once. Each gets the adapter weights
// of a serial run, bit for bit; under -race (make test-race) this also
// covers the training kernels' use of the simd pool from several
// goroutines.
func TestLoRATrainersShareBase(t *testing.T) {
	m := stories(t, tensor.F16)
	trainEx, devEx := instructData(t, m, 64)
	run := func(seed uint64) ([]Param, error) {
		tr, err := New(m, Options{LoRA: lora.DefaultConfig(), Batch: 2, Ctx: 64, Seed: seed})
		if err != nil {
			return nil, err
		}
		_, err = Run(context.Background(), tr, trainEx, devEx, Config{Steps: 3, Sched: Schedule{LR: 1e-3}, ClipNorm: 1, DevMax: 4, Seed: seed}, nil)
		return tr.Params(), err
	}
	const trainers = 3
	want := make([][]Param, trainers)
	for i := range want {
		var err error
		if want[i], err = run(uint64(i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, trainers)
	for i := range trainers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := run(uint64(i + 1))
			if err == nil {
				err = sameParams(got, want[i])
			}
			if err != nil {
				errs <- fmt.Errorf("trainer %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func sameParams(got, want []Param) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d parameters, want %d", len(got), len(want))
	}
	for k := range want {
		for i := range want[k].W {
			if math.Float32bits(got[k].W[i]) != math.Float32bits(want[k].W[i]) {
				return fmt.Errorf("%s[%d] = %v, %v in a serial run", want[k].Name, i, got[k].W[i], want[k].W[i])
			}
		}
	}
	return nil
}
