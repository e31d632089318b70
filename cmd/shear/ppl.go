package main

import (
	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// pplRequest is what `shear ppl` reads from its flags (the text is read
// from File).
type pplRequest struct {
	Model  modelFlags
	Engine engineFlags
	File   string
	PPL    app.PerplexityRequest
}

func defaultPPL() pplRequest {
	return pplRequest{Model: defaultModelFlags(), Engine: defaultEngineFlags(), PPL: app.PerplexityRequest{}.Default()}
}

func newPPL() *cobra.Command {
	req := defaultPPL()
	cmd := &cobra.Command{
		Use:   "ppl",
		Short: "Perplexity of a text file (llama.cpp's protocol: chunks of ctx-1 tokens after BOS)",
		Long: `Perplexity of a text file, by llama.cpp's llama-perplexity protocol: the
file is tokenized once (no BOS) and cut into chunks of ctx-1 tokens (a final
partial chunk is dropped); each chunk runs from a fresh context after BOS and
every chunk token is scored. ppl = exp(mean NLL). See docs/EVALUATION.md.
Without -f, the embedded default model's held-out Austen text is scored.`,
		Example: `  shear ppl                                    # the embedded model on its held-out text
  shear ppl -m model.gguf -f text.txt --chunks 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPerplexity(&req) },
	}
	req.Model.register(cmd)
	req.Engine.register(cmd)
	cmd.Flags().StringVarP(&req.File, "file", "f", req.File, "text file")
	registerPPLFlags(cmd, &req.PPL)
	bindRequest(cmd, &req, defaultPPL())
	return cmd
}

// registerPPLFlags adds the perplexity protocol's flags (ppl and eval).
func registerPPLFlags(cmd *cobra.Command, r *app.PerplexityRequest) {
	cmd.Flags().IntVar(&r.Ctx, "ctx", r.Ctx, "context size: chunks of ctx-1 tokens after BOS (at most the model's context)")
	cmd.Flags().IntVar(&r.Chunks, "chunks", r.Chunks, "score only the first K chunks (0: all)")
}
