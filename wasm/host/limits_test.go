package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shear-ai/shear/wasm/host"
)

// TestMemoryLimit: a model larger than the cap fails with ErrMemoryLimit,
// and the engine (and a pool) work afterwards.
func TestMemoryLimit(t *testing.T) {
	ctx := context.Background()
	stories := readShared(t, "models/stories260K.gguf")
	huge := make([]byte, 48<<20)
	for _, mode := range []host.Mode{host.HostKernels, host.Pure} {
		e, err := host.New(ctx, host.Options{Mode: mode, MemoryLimitMB: 32, CacheDir: cacheDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		if _, err := e.Load(ctx, huge, host.LoadOptions{}); !errors.Is(err, host.ErrMemoryLimit) {
			t.Fatalf("%v: loading 48 MiB under a 32 MiB cap: %v", mode, err)
		}
		m, err := e.Load(ctx, stories, host.LoadOptions{})
		if err != nil {
			t.Fatalf("%v: loading after running out of memory: %v", mode, err)
		}
		if res, err := m.Generate(ctx, host.GenerateRequest{N: 8}); err != nil || len(res.Tokens) != 8 {
			t.Fatalf("%v: generating after running out of memory: %v %v", mode, res, err)
		}
	}
	p, err := host.NewPool(ctx, host.Options{MemoryLimitMB: 32, CacheDir: cacheDir()}, 2, stories, host.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	// A request larger than the cap fails; the pool recovers.
	text := strings.Repeat("a ", 20<<20)
	for i := 0; i < 2; i++ {
		err := p.Do(ctx, func(m *host.Model) error {
			_, err := m.Tokenize(ctx, text, false)
			return err
		})
		if !errors.Is(err, host.ErrMemoryLimit) {
			t.Fatalf("pool: %v", err)
		}
		if res, err := p.Generate(ctx, host.GenerateRequest{N: 8}); err != nil || len(res.Tokens) != 8 {
			t.Fatalf("pool after running out of memory: %v %v", res, err)
		}
	}
}

// TestDeadline: a deadline or a cancellation ends a call with the
// context's error, at the guest's next safe point (between tokens) or, in
// HostKernels mode, at the next kernel after the grace period; Preempt
// stops even a call without safe points at once. The engine keeps
// working.
func TestDeadline(t *testing.T) {
	stories := readShared(t, "models/stories260K.gguf")
	long := make([]int, 1024)
	for i := range long {
		long[i] = 1 + i%500
	}
	check := func(t *testing.T, e *host.Engine, what string, run func(context.Context, *host.Model) error) {
		ctx := context.Background()
		m, err := e.Load(ctx, stories, host.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		err = run(dctx, m)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v, %s: %v", e.Mode(), what, err)
		}
		t.Logf("%v, %s: stopped after %v: %v", e.Mode(), what, time.Since(t0).Round(time.Millisecond), err)
		if res, err := m.Generate(ctx, host.GenerateRequest{N: 8}); err != nil || len(res.Tokens) != 8 {
			t.Fatalf("%v, %s: generating afterwards: %v %v", e.Mode(), what, res, err)
		}
		cctx, cancel2 := context.WithCancel(ctx)
		time.AfterFunc(30*time.Millisecond, cancel2)
		if err := run(cctx, m); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, %s, cancelled: %v", e.Mode(), what, err)
		}
	}
	generate := func(ctx context.Context, m *host.Model) error {
		_, err := m.Generate(ctx, host.GenerateRequest{N: 2047, IgnoreEOS: true}) // the whole context
		return err
	}
	logits := func(ctx context.Context, m *host.Model) error {
		_, err := m.Logits(ctx, long)
		return err
	}
	for _, mode := range modes {
		check(t, engine(t, mode), "generate", generate)
	}
	// One forward pass of 1024 tokens has no safe point inside.
	e, err := host.New(context.Background(), host.Options{Mode: host.HostKernels, Grace: 10 * time.Millisecond, CacheDir: cacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	check(t, e, "logits (kernel abort)", logits)
	if testing.Short() {
		return
	}
	e2, err := host.New(context.Background(), host.Options{Mode: host.Pure, Preempt: true, CacheDir: cacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	check(t, e2, "logits (preempt)", logits)
}
