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
