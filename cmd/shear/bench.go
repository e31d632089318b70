package main

import (
	"cmp"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

func newBench() *cobra.Command {
	var mf modelFlags
	var shape string
	var prefill, decode int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed (a model file, or a random model of a benchmark shape)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if prefill < 1 || decode < 1 {
				return fmt.Errorf("--prefill and --decode must be ≥ 1")
			}
			var m *model.Model
			var err error
			if mf.path != "" {
				if m, err = mf.load(); err != nil {
					return err
				}
			} else {
				c, ok := model.Shapes[shape]
				if !ok {
					return fmt.Errorf("--shape %q is not one of 15M, 110M", shape)
				}
				dt, err := tensor.ParseDType(cmp.Or(mf.dtype, "f16"))
				if err != nil {
					return fmt.Errorf("--dtype: %w", err)
				}
				if m, err = model.NewRandom(c, dt, 1); err != nil {
					return err
				}
			}
			tokens := make([]int, prefill+decode)
			for i := range tokens {
				tokens[i] = (i*7919 + 1) % m.Vocab
			}
			st := m.NewState(prefill+decode, 64)
			st.Forward(tokens[:1], false) // warm up the pool and caches
			st.Reset()
			t0 := time.Now()
			if _, err := st.Forward(tokens[:prefill], false); err != nil {
				return err
			}
			tPrefill := time.Since(t0).Seconds()
			t0 = time.Now()
			for i := 0; i < decode; i++ {
				if _, err := st.Forward(tokens[prefill+i:prefill+i+1], false); err != nil {
					return err
				}
			}
			tDecode := time.Since(t0).Seconds()
			out := map[string]any{
				"prefill_tok_s": float64(prefill) / tPrefill, "decode_tok_s": float64(decode) / tDecode,
				"params": m.Params(), "dtype": storageNames(m), "prefill_tokens": prefill, "decode_tokens": decode,
			}
			return emit(out, func() {
				fmt.Printf("params %d  dtype %s  prefill %.1f tok/s (%d tokens)  decode %.1f tok/s (%d tokens)\n",
					m.Params(), storageNames(m), float64(prefill)/tPrefill, prefill, float64(decode)/tDecode, decode)
			})
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVar(&shape, "shape", "15M", "benchmark shape when no model is given: 15M or 110M")
	cmd.Flags().IntVar(&prefill, "prefill", 128, "prompt tokens")
	cmd.Flags().IntVar(&decode, "decode", 64, "decoded tokens")
	return cmd
}
