package host_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shear-ai/shear/wasm/host"
)

// TestPool serves concurrent requests from two instances; every request
// gets the answer a single engine gives.
func TestPool(t *testing.T) {
	ctx := context.Background()
	stories := readShared(t, "models/stories260K.gguf")
	p, err := host.NewPool(ctx, host.Options{Mode: host.HostKernels, CacheDir: cacheDir()}, 2, stories, host.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	want := map[uint64][]int{}
	m := loadStories(t, host.Native)
	for seed := uint64(0); seed < 6; seed++ {
		res, err := m.Generate(ctx, host.GenerateRequest{N: 24, Temperature: 0.9, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		want[seed] = res.Tokens
	}
	var wg sync.WaitGroup
	for seed := uint64(0); seed < 6; seed++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.Generate(ctx, host.GenerateRequest{N: 24, Temperature: 0.9, Seed: seed})
			if err != nil {
				t.Error(err)
				return
			}
			if !equalInts(res.Tokens, want[seed]) {
				t.Errorf("seed %d: %v, want %v", seed, res.Tokens, want[seed])
			}
		}()
	}
	wg.Wait()
}

// TestEngineSharedByGoroutines: an Engine and its Model are documented as
// safe for concurrent use, their calls serialized. Goroutines sharing one
// (host kernels and native) get what serial calls give; under -race
// (make test-race) this also covers the engine's locking.
func TestEngineSharedByGoroutines(t *testing.T) {
	ctx := context.Background()
	stories := readShared(t, "models/stories260K.gguf")
	for _, mode := range []host.Mode{host.HostKernels, host.Native} {
		e, err := host.New(ctx, host.Options{Mode: mode, CacheDir: cacheDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		m, err := e.Load(ctx, stories, host.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64][]int{}
		for seed := uint64(0); seed < 4; seed++ {
			res, err := m.Generate(ctx, host.GenerateRequest{N: 16, Temperature: 0.9, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			want[seed] = res.Tokens
		}
		var wg sync.WaitGroup
		for seed := uint64(0); seed < 4; seed++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := m.Generate(ctx, host.GenerateRequest{N: 16, Temperature: 0.9, Seed: seed})
				if err != nil {
					t.Error(err)
					return
				}
				if !equalInts(res.Tokens, want[seed]) {
					t.Errorf("%v seed %d: %v, want %v", mode, seed, res.Tokens, want[seed])
				}
				if _, err := m.Tokenize(ctx, "Once upon a time", true); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}
