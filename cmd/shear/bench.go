package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/model"
)

// benchRequest is what `shear bench` reads from its flags.
type benchRequest struct {
	Model   modelFlags
	Shape   string
	Prefill int
	Decode  int
}

func defaultBenchRequest() benchRequest {
	d := app.BenchRequest{}.Default()
	return benchRequest{Model: defaultModelFlags(), Shape: d.Shape, Prefill: d.Prefill, Decode: d.Decode}
}

// request is the application's request; DType (for the random model)
// is --dtype.
func (req *benchRequest) request() app.BenchRequest {
	return app.BenchRequest{Shape: req.Shape, DType: req.Model.dtype, Prefill: req.Prefill, Decode: req.Decode}
}

func newBench() *cobra.Command {
	req := defaultBenchRequest()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed (a model file, or a random model of a benchmark shape)",
		Long: `Measure prefill and decode speed. With -m, of that model; without it, of a
random model of --shape (15M: dim 288, 6 layers; 110M: dim 768, 12 layers;
vocabulary 32000), not of the embedded default model.`,
		Example: `  shear bench                          # the random 15M shape in f16
  shear bench --shape 110M --dtype q8_0
  shear bench -m model.gguf --prefill 256 --decode 128`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r := req.request()
			if err := r.Validate(); err != nil {
				return err
			}
			var m *model.Model
			var err error
			if req.Model.path != "" {
				m, err = req.Model.load()
			} else {
				m, err = r.BenchModel()
			}
			if err != nil {
				return err
			}
			res, err := app.Bench(m, r)
			if err != nil {
				return err
			}
			return emit(res, func() {
				fmt.Printf("params %d  dtype %s  prefill %.1f tok/s (%d tokens)  decode %.1f tok/s (%d tokens)\n",
					res.Params, res.DType, res.PrefillTokS, res.PrefillTokens, res.DecodeTokS, res.DecodeTokens)
			})
		},
	}
	req.Model.register(cmd)
	// Without -m, bench measures a random model of --shape, not the embedded one.
	cmd.Flags().Lookup("model").Usage = "GGUF model file (default: a random model of --shape)"
	cmd.Flags().Lookup("dtype").Usage = "weight storage: f32, f16, q8_0 or q4_0 (default: a quantized file's own type, f16 for float files and the random model)"
	cmd.Flags().StringVar(&req.Shape, "shape", req.Shape, "benchmark shape when no model is given: 15M or 110M")
	cmd.Flags().IntVar(&req.Prefill, "prefill", req.Prefill, "prompt tokens")
	cmd.Flags().IntVar(&req.Decode, "decode", req.Decode, "decoded tokens")
	bindRequest(cmd, &req, defaultBenchRequest())
	return cmd
}
