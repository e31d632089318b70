package model_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shear-ai/shear/runtime/tensor"
)

// TestNewBoundedState (issue 17 item 4): absurd contexts are refused with
// an error before anything is allocated, and StateBytes is what NewState
// really allocates (measured by the Go runtime).
func TestNewBoundedState(t *testing.T) {
	m := loadStories(t, tensor.F32)
	for _, c := range []struct {
		ctx      int
		maxBytes int64
		want     string
	}{
		{100000000, 0, "exceeds the model's context length"},
		{0, 0, "at least 1"},
		{-5, 0, "at least 1"},
		{m.CtxLen, 1 << 10, "more than the 0 MiB allowed"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := m.NewBoundedState(c.ctx, 64, c.maxBytes)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ctx %d, limit %d: error %v, want %q", c.ctx, c.maxBytes, err, c.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<16 {
			t.Errorf("ctx %d: the refusal allocated %d bytes", c.ctx, n)
		}
	}
	// Beyond the context length, the byte count itself is overflow-checked.
	big := *m
	big.CtxLen = 0
	if _, err := big.StateBytes(1<<62, 64); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("StateBytes(2^62): %v", err)
	}
	if _, err := big.NewBoundedState(1<<40, 1, 0); err == nil {
		t.Error("a 2^40-token state was accepted")
	}

	for _, ctx := range []int{1, 100, m.CtxLen} {
		want, err := m.StateBytes(ctx, 64)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, err := m.NewBoundedState(ctx, 64, want)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("ctx %d within its own size: %v", ctx, err)
		}
		got := int64(after.TotalAlloc - before.TotalAlloc)
		if got < want || got > want+want/8+4096 {
			t.Errorf("ctx %d: StateBytes %d, NewState allocated %d", ctx, want, got)
		}
		runtime.KeepAlive(st)
	}
}

// TestStatesShareModel: one Model serves several goroutines, each with its
// own State (the documented rule: a Model is read-only while it runs), for
// every storage type, prefill and decode alike. Each goroutine's logits
// are the bits of a serial run. Under -race (make test-race) it also shows
// that the forward pass writes nothing shared.
func TestStatesShareModel(t *testing.T) {
	prompt := []int{1, 403, 407, 261, 378, 429, 326, 271}
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0} {
		m := loadStories(t, dt)
		run := func() ([]float32, error) {
			s := m.NewState(32, 8)
			var out []float32
			logits, err := s.Forward(prompt, true)
			if err != nil {
				return nil, err
			}
			out = append(out, logits...)
			for step := range 8 {
				logits, err = s.Forward([]int{(step*37 + 5) % m.Vocab}, false)
				if err != nil {
					return nil, err
				}
				out = append(out, logits...)
			}
			return out, nil
		}
		want, err := run()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := run()
				if err == nil && !slices.Equal(got, want) {
					err = fmt.Errorf("%v: logits of a concurrent run differ from the serial run", dt)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
