package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// quantizeRequest is what `shear quantize` reads from its flags: the
// application's request itself.
type quantizeRequest app.QuantizeRequest

func defaultQuantizeRequest() quantizeRequest {
	return quantizeRequest(app.QuantizeRequest{}.Default())
}

func newQuantize() *cobra.Command {
	req := defaultQuantizeRequest()
	cmd := &cobra.Command{
		Use:   "quantize",
		Short: "Write a model's matrices as f16, q8_0 or q4_0 GGUF",
		Long: `Write a GGUF copy of a model (any input format convert reads) with its
matrices stored as --type. As llama.cpp does, a matrix whose rows are not a
whole number of 32-value blocks stays f16 under q8_0 and q4_0; norms stay f32.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := runInterruptible(func(ctx context.Context, p app.Progress) (app.QuantizeResult, error) {
				return app.Quantize(ctx, app.QuantizeRequest(req), p)
			})
			if err != nil {
				return err
			}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %d parameters, %d bytes; input %d bytes)\n", res.Output, res.Type, res.Params, res.Bytes, res.InputBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&req.Input, "model", "m", req.Input, "input model (GGUF, Hugging Face directory or llama2.c .bin)")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output GGUF file")
	cmd.Flags().StringVar(&req.Type, "type", req.Type, "storage: f32, f16, q8_0 or q4_0")
	cmd.Flags().StringVar(&req.Tokenizer, "tokenizer", req.Tokenizer, "vocabulary of a llama2.c input")
	bindRequest(cmd, &req, defaultQuantizeRequest())
	return cmd
}
