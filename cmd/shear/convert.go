package main

// Format commands: convert (this file), quantize and init. Their bodies
// are in internal/app (app.Convert, app.Quantize, app.Init).

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// checkOutput refuses an output that is (or would replace) an input.
func checkOutput(out string, inputs ...string) error { return app.CheckOutput(out, inputs...) }

// convertRequest is what `shear convert` reads from its flags: the
// application's request itself.
type convertRequest app.ConvertRequest

func defaultConvertRequest() convertRequest { return convertRequest(app.ConvertRequest{}.Default()) }

func newConvert() *cobra.Command {
	req := defaultConvertRequest()
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert a model between GGUF, the Hugging Face layout and llama2.c",
		Long: `Convert a model between formats. The input format is detected: a GGUF file,
a Hugging Face directory (config.json, model.safetensors or shards,
tokenizer.model) or a llama2.c model.bin (with --tokenizer tokenizer.bin or a
GGUF file holding the vocabulary; default tokenizer.bin beside it). The output
format is --to, or follows from the output name: .gguf, .bin (llama2.c), or a
name without extension (a Hugging Face directory).

--dtype sets the matrix storage of the output (default: that of the input).
Hugging Face output takes f32, f16 or bf16 (quantized matrices are
dequantized); llama2.c output is always f32, with tokenizer.bin written beside
it (--tokenizer-out). Outputs are written atomically and never replace the
input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := runInterruptible(func(ctx context.Context, p app.Progress) (app.ConvertResult, error) {
				return app.Convert(ctx, app.ConvertRequest(req), p)
			})
			if err != nil {
				return err
			}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %s, %d parameters): %s → %s bytes\n", strings.Join(res.Files, " + "), res.Format, res.DType, res.Params, commas(res.InputBytes), commas(res.Bytes))
			})
		},
	}
	cmd.Flags().StringVarP(&req.Input, "model", "m", req.Input, "input: GGUF file, Hugging Face directory or llama2.c model.bin")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output file or directory")
	cmd.Flags().StringVar(&req.To, "to", req.To, "output format: gguf, hf or llama2c (default: from the output name)")
	cmd.Flags().StringVar(&req.DType, "dtype", req.DType, "output matrix storage: f32, f16, q8_0, q4_0 (GGUF), bf16 (HF); default: the input's")
	cmd.Flags().StringVar(&req.Tokenizer, "tokenizer", req.Tokenizer, "vocabulary of a llama2.c input: tokenizer.bin or a GGUF file")
	cmd.Flags().StringVar(&req.TokenizerOut, "tokenizer-out", req.TokenizerOut, "tokenizer.bin path for llama2.c output (default: beside the output)")
	cmd.Flags().Int64Var(&req.ShardBytes, "shard-bytes", req.ShardBytes, "Hugging Face output: split the weights into shards of at most this many bytes")
	bindRequest(cmd, &req, defaultConvertRequest())
	return cmd
}
