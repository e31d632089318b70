package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/tensor"
)

// quantizeRequest is what `shear quantize` reads from its flags.
type quantizeRequest struct {
	Input     string
	Output    string
	Type      string
	Tokenizer string
}

func defaultQuantizeRequest() quantizeRequest { return quantizeRequest{Type: "q8_0"} }

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
			if req.Input == "" {
				return errors.New("no input given: pass -m MODEL")
			}
			dt, err := tensor.ParseDType(req.Type)
			if err != nil {
				return fmt.Errorf("--type: %w", err)
			}
			if err := checkOutput(req.Output, req.Input, req.Tokenizer); err != nil {
				return err
			}
			format, err := detectFormat(req.Input)
			if err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			p := newProgress("quantize", 2)
			m, err := loadAny(req.Input, format, req.Tokenizer, dt)
			if err != nil {
				return err
			}
			p.update(1, 2)
			if err := saveGGUF(ctx, m, req.Output); err != nil {
				return err
			}
			p.update(2, 2)
			p.finish()
			inBytes, outBytes := sizeOf(req.Input), sizeOf(req.Output)
			res := map[string]any{"input": req.Input, "output": req.Output, "type": dt.String(), "params": m.Params(),
				"bytes": outBytes, "input_bytes": inBytes}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %d parameters, %d bytes; input %d bytes)\n", req.Output, dt, m.Params(), outBytes, inBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&req.Input, "model", "m", "", "input model (GGUF, Hugging Face directory or llama2.c .bin)")
	cmd.Flags().StringVarP(&req.Output, "output", "o", "", "output GGUF file")
	cmd.Flags().StringVar(&req.Type, "type", "q8_0", "storage: f32, f16, q8_0 or q4_0")
	cmd.Flags().StringVar(&req.Tokenizer, "tokenizer", "", "vocabulary of a llama2.c input")
	bindRequest(cmd, &req, defaultQuantizeRequest())
	return cmd
}
