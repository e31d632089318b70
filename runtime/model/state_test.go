package model_test

import (
	"runtime"
	"strings"
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
