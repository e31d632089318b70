package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/wasm/host"
)

// engineFlags select where generate, ppl, eval and prune run: natively
// (the default), or in the embedded WebAssembly core under wazero with
// the host's kernels (wasm) or entirely inside the sandbox (wasm-pure).
// See docs/WASM.md.
type engineFlags struct {
	name     string
	memoryMB int
}

func defaultEngineFlags() engineFlags { return engineFlags{name: "native", memoryMB: 2048} }

func (f *engineFlags) register(cmd *cobra.Command) {
	if f.name == "" {
		*f = defaultEngineFlags()
	}
	cmd.Flags().StringVar(&f.name, "engine", f.name, "native, wasm (the WebAssembly core, native kernels) or wasm-pure (all inside the sandbox)")
	cmd.Flags().IntVar(&f.memoryMB, "wasm-memory", f.memoryMB, fmt.Sprintf("memory cap of the WebAssembly instance in MiB (%d to %d)", host.MinMemoryLimitMB, host.MaxMemoryLimitMB))
}

// validate checks the flags before anything is loaded.
func (f *engineFlags) validate() error {
	if _, err := host.ParseMode(f.name); err != nil {
		return fmt.Errorf("--engine: %w", err)
	}
	return valid.Int("--wasm-memory", f.memoryMB, host.MinMemoryLimitMB, host.MaxMemoryLimitMB)
}

// suffix names a wasm engine in a summary line (nothing for native).
func (f *engineFlags) suffix() string {
	if !f.wasm() {
		return ""
	}
	return " (" + f.name + ")"
}

// wasm reports whether a wasm engine was asked for.
func (f *engineFlags) wasm() bool { return f.name != "native" }

// open starts the engine (compiled modules are cached under the user's
// cache directory) with progress bars on stderr.
func (f *engineFlags) open(ctx context.Context) (*host.Engine, func(), error) {
	if err := f.validate(); err != nil {
		return nil, nil, err
	}
	mode, _ := host.ParseMode(f.name)
	opts := host.Options{Mode: mode, MemoryLimitMB: f.memoryMB}
	if dir, err := os.UserCacheDir(); err == nil {
		opts.CacheDir = filepath.Join(dir, "shear", "wazero")
	}
	bars := stageBars{}
	opts.Progress = func(stage string, done, total int, loss float64) {
		if total <= 0 || stage == "generate" { // generation shows its text instead
			return
		}
		bars.update(stage, done, total, loss)
	}
	e, err := host.New(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return e, func() {
		bars.finish()
		e.Close(context.Background())
	}, nil
}

// ggufBytes reads -m, or the embedded default model.
func (f *modelFlags) ggufBytes() ([]byte, error) {
	if f.path == "" {
		return assets.DefaultModel(), nil
	}
	return safefile.ReadFile(f.path)
}

// loadModel starts the engine and loads -m into it: natively the model
// is loaded as every native command loads it and bound to the engine, so
// the operations run the same application code (internal/app) on every
// engine.
func (f *engineFlags) loadModel(ctx context.Context, mf *modelFlags) (*host.Model, func(), error) {
	if err := f.validate(); err != nil {
		return nil, nil, err
	}
	var b []byte
	var nm *model.Model
	var err error
	if f.wasm() {
		if b, err = mf.ggufBytes(); err != nil {
			return nil, nil, err
		}
		if mf.path == "" {
			fmt.Fprintln(os.Stderr, "using the embedded default model; pass -m MODEL.gguf for another")
		}
	} else if nm, err = mf.load(); err != nil {
		return nil, nil, err
	}
	e, done, err := f.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	var m *host.Model
	if nm != nil {
		m, err = e.Bind(nm)
	} else {
		m, err = e.Load(ctx, b, host.LoadOptions{DType: mf.dtype})
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return m, done, nil
}

// runGenerate is `shear generate` on any engine: the tokens streamed as
// they come, or one JSON object.
func runGenerate(r *generateRequest) error {
	ef, req := &r.Engine, r.Gen
	ctx, stop := interruptible()
	defer stop()
	m, done, err := ef.loadModel(ctx, &r.Model)
	if err != nil {
		return err
	}
	defer done()
	var res host.GenerateResult
	var secs float64
	if g.json {
		if res, err = m.Generate(ctx, req); err != nil {
			return err
		}
		secs = res.Seconds
	} else {
		fmt.Fprint(os.Stdout, req.Prompt) // as llama.cpp does: the output reads as one text
		var start time.Time
		res, err = m.Stream(ctx, req, func(s host.Step) error {
			if start.IsZero() {
				start = time.Now()
			}
			_, err := fmt.Fprint(os.Stdout, s.Text)
			return err
		})
		if err != nil {
			return err
		}
		secs = time.Since(start).Seconds()
	}
	rate := float64(len(res.Tokens)) / secs
	return emit(map[string]any{"prompt": req.Prompt, "tokens": res.Tokens, "text": res.Text, "tokens_per_s": rate}, func() {
		fmt.Println()
		fmt.Fprintf(os.Stderr, "%d tokens, %.1f tokens/s%s\n", len(res.Tokens), rate, ef.suffix())
	})
}

// runPerplexity is `shear ppl` on any engine.
func runPerplexity(r *pplRequest) error {
	text, err := readTextOrHeldOut(r.File, "-f FILE")
	if err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	m, done, err := r.Engine.loadModel(ctx, &r.Model)
	if err != nil {
		return err
	}
	req := r.PPL
	req.Text = text
	res, err := m.Perplexity(ctx, req)
	done()
	if err != nil {
		return err
	}
	return emit(res, func() {
		fmt.Printf("ppl %.4f  nll %.5f  tokens scored %d  chunks %d\n", res.PPL, res.NLL, res.Scored, res.Chunks)
	})
}

// heldOutName names the embedded held-out text where a file name would be.
const heldOutName = "held-out Austen"

// readTextOrHeldOut reads a text file, or without one the embedded
// model's held-out text (with a note on stderr naming the flag).
func readTextOrHeldOut(path, flag string) (string, error) {
	if path == "" || path == heldOutName {
		fmt.Fprintf(os.Stderr, "scoring the embedded held-out Austen text (%d bytes); pass %s for another\n", len(assets.HeldOut()), flag)
		return assets.HeldOut(), nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

// runEval is `shear eval` on any engine.
func runEval(er *evalRequest) error {
	ef, mf, baseline, ppls, mcs := &er.Engine, &er.Model, er.Baseline, er.PPLFiles, er.MCFiles
	if len(ppls) == 0 && len(mcs) == 0 {
		ppls = []string{heldOutName}
	}
	ctx, stop := interruptible()
	defer stop()
	one := func(f *modelFlags, name string) (modelEval, error) {
		m, done, err := ef.loadModel(ctx, f)
		if err != nil {
			return modelEval{}, err
		}
		defer done()
		r := modelEval{Model: name, Params: m.Info().Params, PPL: map[string]eval.PPLResult{}, MC: map[string]eval.MCResult{}}
		for _, file := range ppls {
			text, err := readTextOrHeldOut(file, "--ppl FILE")
			if err != nil {
				return r, err
			}
			req := er.PPL
			req.Text = text
			res, err := m.Perplexity(ctx, req)
			if err != nil {
				return r, fmt.Errorf("%s: %w", file, err)
			}
			r.PPL[file] = res
		}
		for _, file := range mcs {
			items, err := eval.ReadMC(file)
			if err != nil {
				return r, err
			}
			req := app.ScoreRequest{}.Default()
			req.Items = items
			res, err := m.Score(ctx, req)
			if err != nil {
				return r, fmt.Errorf("%s: %w", file, err)
			}
			r.MC[file] = res.MCResult
		}
		return r, nil
	}
	results := []modelEval{}
	if baseline != "" {
		r, err := one(&modelFlags{path: baseline, dtype: mf.dtype}, baseline)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	name := mf.path
	if name == "" {
		name = "default"
	}
	r, err := one(mf, name)
	if err != nil {
		return err
	}
	results = append(results, r)
	out := map[string]any{"models": results}
	if len(mcs) > 0 {
		res := r.MC[mcs[0]]
		out["n"], out["acc"], out["acc_norm"] = res.N, res.Acc, res.AccNorm
	}
	if len(ppls) > 0 {
		res := r.PPL[ppls[0]]
		out["ppl"], out["nll"], out["tokens_scored"], out["chunks"] = res.PPL, res.NLL, res.Scored, res.Chunks
	}
	return emit(out, func() { printEvalTable(results, ppls, mcs) })
}

// pruneWasm runs `shear prune`'s request on a wasm engine: pruning and
// recovery run in the guest, which keeps no checkpoints. It returns the
// GGUF bytes of the pruned model.
func pruneWasm(ctx context.Context, req *pruneRequest, preq app.PruneRequest) ([]byte, app.PruneResult, error) {
	preq.Options.Checkpoint, preq.Options.CheckpointEvery, preq.Options.Resume = "", 0, false
	b, err := req.Model.ggufBytes()
	if err != nil {
		return nil, app.PruneResult{}, err
	}
	e, done, err := req.Engine.open(ctx)
	if err != nil {
		return nil, app.PruneResult{}, err
	}
	gg, res, err := e.Prune(ctx, b, preq)
	done()
	if err != nil && ctx.Err() != nil {
		return nil, res, fmt.Errorf("interrupted: %w", err)
	}
	return gg, res, err
}
