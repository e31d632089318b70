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

func defaultGenerate() generateRequest {
	return generateRequest{Model: defaultModelFlags(), Engine: defaultEngineFlags(), Gen: app.GenerateRequest{}.Default()}
}

func newGenerate() *cobra.Command {
	req := defaultGenerate()
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt (from BOS when no prompt is given)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runGenerate(&req) },
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
