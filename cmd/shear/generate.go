package main

import (
	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// generateRequest is what `shear generate` reads from its flags.
type generateRequest struct {
	Model  modelFlags
	Engine engineFlags
	Gen    app.GenerateRequest
}

// defaultGenerate samples as llama.cpp's CLI does (temperature 0.8, top-k
// 40, top-p 0.95), with a fixed seed: greedy decoding (--temp 0, the Go
// API's default) loops on small models.
func defaultGenerate() generateRequest {
	gen := app.GenerateRequest{}.Default()
	gen.Temperature, gen.TopK, gen.TopP = 0.8, 40, 0.95
	return generateRequest{Model: defaultModelFlags(), Engine: defaultEngineFlags(), Gen: gen}
}

func newGenerate() *cobra.Command {
	req := defaultGenerate()
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt (from BOS when no prompt is given)",
		Long: `Generate text from a prompt (from BOS when no prompt is given). The prompt is
printed first, then the generated text as it comes; statistics go to stderr.
By default it samples as llama.cpp does (temperature 0.8, top-k 40, top-p
0.95, seed 0); --temp 0 decodes greedily (which, from BOS, matches llama.cpp
token for token).`,
		Example: `  shear generate -p "It was a truth" -n 64
  shear generate -m model.gguf -p "Once upon a time" --temp 0 -n 32
  shear generate -m model.gguf --engine wasm --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runGenerate(&req) },
	}
	req.Model.register(cmd)
	req.Engine.register(cmd)
	f, r := cmd.Flags(), &req.Gen
	f.StringVarP(&r.Prompt, "prompt", "p", r.Prompt, "prompt text")
	f.IntVarP(&r.N, "n", "n", r.N, "tokens to generate")
	f.IntVar(&r.Ctx, "ctx", r.Ctx, "context size (0: prompt + n; at most the model's context)")
	f.BoolVar(&r.IgnoreEOS, "ignore-eos", r.IgnoreEOS, "keep generating after the end-of-sequence token")
	f.Float32Var(&r.Temperature, "temp", r.Temperature, "temperature (0: greedy)")
	f.IntVar(&r.TopK, "top-k", r.TopK, "sample from the k most likely tokens (0: all)")
	f.Float32Var(&r.TopP, "top-p", r.TopP, "sample from the smallest set with this probability mass")
	f.Uint64Var(&r.Seed, "seed", r.Seed, "random seed")
	bindRequest(cmd, &req, defaultGenerate())
	return cmd
}
