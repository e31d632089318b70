# Shear — developer targets. `make test` is what CI runs (see .ci/run).
GO      ?= go
PKGS    := ./...
CORE    := ./simd/... ./quant/... ./runtime/... $(wildcard ./prune)
SHARED  ?= ../shared

.PHONY: all build test test-short test-race test-race-full cross lint vet fmt-check bench wasm-check clean fuzz test-arm64

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/shear ./cmd/shear

# The full test suite, plus the builds the core must keep (wasm, arm64,
# riscv64), the pure-Go kernel path and the race detector over the tests
# with goroutines.
test: vet fmt-check cross
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -tags noasm ./simd/... ./quant/...
	$(MAKE) test-race

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The race detector over the tests that run goroutines (a few minutes;
# part of make test): simd's worker pool (hand-off stress, late signals,
# panics, concurrent callers), the quantized products on it, goroutines
# sharing a Model, a Tokenizer, an Engine, and a base model under several
# LoRA trainers, the trainer's parallel attention, the wasm host's pools
# and memory limit, and the application layer.
RACEPKGS  := ./simd/ ./quant/ ./runtime/model/ ./runtime/tokenizer/ ./runtime/train/ ./wasm/host/ ./internal/app/
RACETESTS := TestPool|TestParallelFor|TestConcurrentCallers|TestMatMulK|TestMatVec$$|TestMatMul$$|TestStatesShareModel|TestConcurrentUse|TestLoRATrainersShareBase|TestAttentionGrad|TestEngineSharedByGoroutines|TestMemoryLimit|TestPruneRequestWire|TestReadersShareModel
test-race:
	$(GO) test -race -short -count=1 -timeout 20m -run '$(RACETESTS)' $(RACEPKGS)

# Every test of those packages under the race detector (~30 min on 2 cores).
test-race-full:
	$(GO) test -race -short -count=1 -timeout 60m $(RACEPKGS)

cross: wasm-check
	GOARCH=arm64 $(GO) build $(CORE)
	GOARCH=riscv64 $(GO) build $(CORE)

# The arm64 build under user-mode emulation (qemu-aarch64-static, Debian's
# qemu-user-static): the kernel, quantization and model tests with the NEON
# kernels selected (mirror tests against the portable models, stories260K
# greedy = llama.cpp), then the kernels again with -tags noasm (the portable
# path, whose multiply-adds arm64 fuses). Test binaries run in their package
# directory, so ../shared is found as usual.
QEMU_ARM64 ?= qemu-aarch64-static
ARM64_PKGS := ./simd/ ./quant/ ./runtime/model/

test-arm64:
	@command -v $(QEMU_ARM64) >/dev/null || { echo "test-arm64: $(QEMU_ARM64) not found (apt-get install qemu-user-static)"; exit 1; }
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -timeout 60m -exec $(QEMU_ARM64) $(ARM64_PKGS)
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -timeout 60m -tags noasm -exec $(QEMU_ARM64) ./simd/ ./quant/

wasm-check:
	GOOS=wasip1 GOARCH=wasm $(GO) build $(CORE)
	GOOS=wasip1 GOARCH=wasm $(GO) vet $(CORE)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: vet fmt-check

# Every fuzz target for FUZZTIME each (.ci/fuzz lists them and prints
# each one's execution count); crashers land in PKG/testdata/fuzz/.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) .ci/fuzz

# Benchmarks: kernels (GFLOP/s, GB/s), model decode/prefill (ratios to the
# read bandwidth and the matmul peak measured in the same run), training
# throughput and MFU. Numbers are recorded in docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 300ms -count 1 ./simd/ | tee bench-simd.txt
	$(GO) test -run '^$$' -bench . -benchtime 300ms -count 1 ./quant/ | tee bench-quant.txt
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 1 -timeout 30m ./runtime/model/ | tee bench-model.txt
	$(GO) test -run '^$$' -bench Train15M -benchtime 3x -count 1 -timeout 30m ./runtime/train/ | tee bench-train.txt
	$(MAKE) bench-wasm

# Shear against llama.cpp on the same GGUF files (15M and 110M shapes; f16,
# q8_0, q4_0 and llama-quantize's Q4_K_M), alternating runs with the same
# thread count, and the machine references (FMA peak, read bandwidth) of
# the same run: the table in docs/PERFORMANCE.md. LLAMA_BIN must hold a
# llama.cpp build that runs on this CPU (llama-bench, and llama-quantize for
# the q4_k rows); see ../shared/tools/llama.cpp/README.md to build one.
LLAMA_BIN ?= $(SHARED)/tools/llama.cpp/bin
.PHONY: bench-peer
bench-peer:
	$(GO) run ./tools/benchpeer -llama-bench $(LLAMA_BIN)/llama-bench \
		$$(test -x $(LLAMA_BIN)/llama-quantize && echo -llama-quantize $(LLAMA_BIN)/llama-quantize) \
		-threads 2,1 -o docs/PERFORMANCE.md

# LoRAShear at real sizes: the 110M and 1.1B shapes (random f16 weights,
# Llama-2 vocabulary) pruned with a short schedule; peak RSS, per-stage
# times and LHSPG throughput into docs/PERFORMANCE.md. Not part of make
# test (the 1.1B shape takes tens of minutes on 2 cores). SCALE_SHAPES=110M
# runs one shape.
SCALE_SHAPES ?= 110M,1.1B
.PHONY: bench-scale
bench-scale: build
	$(GO) run ./tools/benchscale -shear bin/shear -vocab $(SHARED)/models/ggml-vocab-llama-spm.gguf \
		-data $(SHARED)/data/tinystories-dev.txt -shapes $(SCALE_SHAPES) -work bench-scale -o docs/PERFORMANCE.md

clean:
	rm -rf bin bench-*.txt bench-scale

# Real-client interop: llama.cpp (the CPU build inside node-llama-cpp,
# installed in interop/node_modules by .ci/run) runs GGUF files Shear wrote
# and must produce Shear's greedy tokens. Skips only when node is absent.
.PHONY: interop
interop:
	$(GO) test -count=1 -tags interop -v ./interop/

# The embedded default model (docs/DEFAULT_MODEL.md): prepares the Austen
# text under assets/data, trains the BPE vocabulary and a small LLaMA from
# scratch with Shear's trainer (18–35 minutes on 2 shared cores), and writes
# assets/default.gguf and assets/default.json. Deterministic (seed 1).
.PHONY: default-model
default-model:
	$(GO) run ./tools/defaultmodel -src $(SHARED)/data/public-domain -out assets

# Pruning experiments (tools/results; docs/EVALUATION.md's splits): every
# method of prune.Methods and LoRAShear's ablations at 20% and 50%, on
# stories260K and the embedded Austen model, three seeds, equal budgets in
# training tokens (the CLI's defaults × RESULTS_SCALE). `make validation`
# evaluates the validation split (docs/VALIDATION.md: choose defaults
# there); `make results` the test split (docs/RESULTS.md). Finished runs
# are kept in RESULTS_CACHE (committed: the raw data behind the tables,
# keyed by the commit of the code the driver links), so an interrupted run
# resumes, also in another checkout; the driver
# prints its time estimate first. RESULTS_FLAGS adds flags (-only, -quick).
RESULTS_CACHE   ?= docs/results/runs
RESULTS_SCALE   ?= 1
RESULTS_WORKERS ?= 2
RESULTS_FLAGS   ?=
RESULTS_ARGS     = -shared $(SHARED) -cache $(RESULTS_CACHE) -scale $(RESULTS_SCALE) -workers $(RESULTS_WORKERS) $(RESULTS_FLAGS)
.PHONY: results validation
results:
	$(GO) run ./tools/results -split test -o docs/RESULTS.md $(RESULTS_ARGS)
validation:
	$(GO) run ./tools/results -split val -o docs/VALIDATION.md $(RESULTS_ARGS)

# The WebAssembly core (docs/WASM.md): wasm/guest as a wasip1 reactor, pure
# Go (shear.wasm) and with the heavy kernels imported from the host
# (shear-host.wasm, -tags shearhost), stored gzip-compressed where
# wasm/host embeds them, and modules.txt (what they were built from, which
# TestModulesUpToDate checks). Deterministic for a given Go version: rerun
# after changing the core and commit the three files.
WASMFLAGS := -buildmode=c-shared -trimpath -buildvcs=false -ldflags='-s -w'
.PHONY: wasm bench-wasm
wasm:
	GOOS=wasip1 GOARCH=wasm $(GO) vet -tags shearhost ./simd/ ./quant/ ./wasm/guest/
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o wasm/host/shear.wasm ./wasm/guest
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -tags shearhost -o wasm/host/shear-host.wasm ./wasm/guest
	gzip -9 -n -f wasm/host/shear.wasm wasm/host/shear-host.wasm
	$(GO) test -count=1 -run '^TestModulesUpToDate$$' ./wasm/host/ -args -update
	@ls -l wasm/host/*.wasm.gz

# Decode tokens/s of the three engines (native, wasm, wasm-pure) as ratios
# to native in one run (docs/WASM.md).
bench-wasm:
	$(GO) test -run '^$$' -bench Engines -benchtime 1x -count 1 -timeout 30m ./wasm/host/ | tee bench-wasm.txt

# CLI reference (docs/cli/), generated from the cobra commands.
.PHONY: docs
docs:
	$(GO) run ./cmd/shear docs -o docs/cli
