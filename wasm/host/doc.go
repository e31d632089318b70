// Package host runs Shear's core as a WebAssembly module under wazero,
// with the same operations as the native runtime: load a GGUF model,
// generate, perplexity, multiple choice, prune.
//
//	e, err := host.New(ctx, host.Options{Mode: host.HostKernels, MemoryLimitMB: 512})
//	m, err := e.Load(ctx, ggufBytes, host.LoadOptions{})
//	res, err := m.Generate(ctx, host.GenerateRequest{N: 64})
//
// Two modules are embedded (built by `make wasm` from wasm/guest):
// shear.wasm runs everything inside the sandbox (Pure); shear-host.wasm
// imports its matrix products and fp16 conversions from the host, which
// runs the native kernels on views of the guest's memory (HostKernels, the
// default, about as fast as native). Native runs the same operations
// without wasm, as the reference.
//
// Each module is compiled once per process (or once per Options.CacheDir)
// and instantiated with a memory cap and real clocks. An Engine owns one
// instance and serializes its calls: an Engine and its Models may be
// shared by goroutines, which then take turns (TestEngineSharedByGoroutines);
// a Pool runs several instances, for calls that run in parallel
// (TestPool). Both are checked under the race detector (make test-race). A call whose context ends returns the context's error; one that
// exhausts the memory cap returns ErrMemoryLimit; either way the engine
// stays usable (replacing its instance if it had to stop it). Bad inputs
// come back from the guest as *Error, without harming the instance.
//
// docs/WASM.md documents the ABI, so that other hosts (a Node.js test
// lives in wasm/node) can run the modules, and the design decisions.
package host
