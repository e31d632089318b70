package main

import (
	"cmp"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// benchRequest is what `shear bench` reads from its flags.
type benchRequest struct {
	Model   modelFlags
	Shape   string
	Prefill int
	Decode  int
}

func defaultBenchRequest() benchRequest {
	return benchRequest{Model: defaultModelFlags(), Shape: "15M", Prefill: 128, Decode: 64}
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
			if req.Prefill < 1 || req.Decode < 1 {
				return fmt.Errorf("--prefill and --decode must be ≥ 1")
			}
			var m *model.Model
			var err error
			if req.Model.path != "" {
				if m, err = req.Model.load(); err != nil {
					return err
				}
			} else {
				c, ok := model.Shapes[req.Shape]
				if !ok {
					return fmt.Errorf("--shape %q is not one of %s", req.Shape, shapeNames())
				}
				dt, err := tensor.ParseDType(cmp.Or(req.Model.dtype, "f16"))
				if err != nil {
					return fmt.Errorf("--dtype: %w", err)
				}
				if m, err = model.NewRandom(c, dt, 1); err != nil {
					return err
				}
			}
			tokens := make([]int, req.Prefill+req.Decode)
			for i := range tokens {
				tokens[i] = (i*7919 + 1) % m.Vocab
			}
			st := m.NewState(req.Prefill+req.Decode, 64)
			st.Forward(tokens[:1], false) // warm up the pool and caches
			st.Reset()
			t0 := time.Now()
			if _, err := st.Forward(tokens[:req.Prefill], false); err != nil {
				return err
			}
			tPrefill := time.Since(t0).Seconds()
			t0 = time.Now()
			for i := 0; i < req.Decode; i++ {
				if _, err := st.Forward(tokens[req.Prefill+i:req.Prefill+i+1], false); err != nil {
					return err
				}
			}
			tDecode := time.Since(t0).Seconds()
			out := map[string]any{
				"prefill_tok_s": float64(req.Prefill) / tPrefill, "decode_tok_s": float64(req.Decode) / tDecode,
				"params": m.Params(), "dtype": storageNames(m), "prefill_tokens": req.Prefill, "decode_tokens": req.Decode,
			}
			return emit(out, func() {
				fmt.Printf("params %d  dtype %s  prefill %.1f tok/s (%d tokens)  decode %.1f tok/s (%d tokens)\n",
					m.Params(), storageNames(m), float64(req.Prefill)/tPrefill, req.Prefill, float64(req.Decode)/tDecode, req.Decode)
			})
		},
	}
	req.Model.register(cmd)
	// Without -m, bench measures a random model of --shape, not the embedded one.
	cmd.Flags().Lookup("model").Usage = "GGUF model file (default: a random model of --shape)"
	cmd.Flags().Lookup("dtype").Usage = "weight storage: f32, f16, q8_0 or q4_0 (default: a quantized file's own type, f16 for float files and the random model)"
	cmd.Flags().StringVar(&req.Shape, "shape", "15M", "benchmark shape when no model is given: 15M or 110M")
	cmd.Flags().IntVar(&req.Prefill, "prefill", 128, "prompt tokens")
	cmd.Flags().IntVar(&req.Decode, "decode", 64, "decoded tokens")
	bindRequest(cmd, &req, defaultBenchRequest())
	return cmd
}
