package host_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/wasm/host"
)

// Embed the sandboxed engine and run the default model in it: the same
// tokens as the native runtime's greedy decoding.
func ExampleEngine_Load() {
	ctx := context.Background()
	e, err := host.New(ctx, host.Options{Mode: host.HostKernels, MemoryLimitMB: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Load(ctx, assets.DefaultModel(), host.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Info().Params, "parameters")
	res, err := m.Generate(ctx, host.GenerateRequest{Prompt: "It was a truth", N: 8})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", res.Text)
	// Output:
	// 1246592 parameters
	// ", and the courts of"
}

// Run a model in the WebAssembly core with the host's kernels, under a
// memory cap and a deadline.
func Example() {
	ctx := context.Background()
	gguf, err := os.ReadFile("stories260K.gguf")
	if err != nil {
		log.Fatal(err)
	}
	e, err := host.New(ctx, host.Options{Mode: host.HostKernels, MemoryLimitMB: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Load(ctx, gguf, host.LoadOptions{DType: "f16"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := m.Generate(ctx, host.GenerateRequest{Prompt: "Once upon a time", N: 32})
	if err != nil {
		log.Fatal(err) // context.DeadlineExceeded, host.ErrMemoryLimit, *host.Error, …
	}
	fmt.Println(res.Text)
}

// Serve one model from several goroutines.
func ExamplePool() {
	ctx := context.Background()
	gguf, _ := os.ReadFile("stories260K.gguf")
	p, err := host.NewPool(ctx, host.Options{}, 4, gguf, host.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	for seed := range uint64(8) {
		go func() {
			res, err := p.Generate(ctx, host.GenerateRequest{N: 32, Temperature: 0.8, Seed: seed})
			fmt.Println(res.Text, err)
		}()
	}
}
