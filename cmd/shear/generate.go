package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/sample"
)

func newGenerate() *cobra.Command {
	var mf modelFlags
	var ef engineFlags
	var prompt string
	var n, ctx int
	var ignoreEOS bool
	var sp sample.Params
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt (from BOS when no prompt is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sp.Validate(); err != nil {
				return err
			}
			if n < 1 {
				return fmt.Errorf("-n %d must be ≥ 1", n)
			}
			if ef.wasm() {
				return generateWasm(&ef, &mf, prompt, n, ctx, ignoreEOS, sp)
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			input := append([]int{m.Tok.BOS()}, m.Tok.Encode(prompt)...)
			if prompt == "" {
				input = input[:1]
			}
			if ctx <= 0 {
				ctx = len(input) + n
			}
			if len(input)+n > ctx {
				return fmt.Errorf("prompt (%d tokens) + %d new tokens exceed --ctx %d", len(input), n, ctx)
			}
			st, err := m.NewBoundedState(ctx, 64, 0)
			if err != nil {
				return fmt.Errorf("--ctx / -n: %w", err)
			}
			smp := sample.New(sp, m.Vocab)
			logits, err := st.Forward(input, false)
			if err != nil {
				return err
			}
			var out []int
			printed := 0 // bytes of the decoded text already on stdout
			start := time.Now()
			for len(out) < n {
				t := smp.Sample(logits)
				if t == m.Tok.EOS() && !ignoreEOS {
					break
				}
				out = append(out, t)
				if !g.json {
					text := m.Tok.Decode(out)
					fmt.Fprint(os.Stdout, text[printed:])
					printed = len(text)
				}
				if len(out) == n {
					break
				}
				if logits, err = st.Forward([]int{t}, false); err != nil {
					return err
				}
			}
			secs := time.Since(start).Seconds()
			rate := float64(len(out)) / secs
			text := m.Tok.Decode(out)
			return emit(map[string]any{"tokens": out, "text": text, "tokens_per_s": rate}, func() {
				fmt.Println()
				fmt.Fprintf(os.Stderr, "%d tokens, %.1f tokens/s\n", len(out), rate)
			})
		},
	}
	mf.register(cmd)
	ef.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&prompt, "prompt", "p", "", "prompt text")
	f.IntVarP(&n, "n", "n", 128, "tokens to generate")
	f.IntVar(&ctx, "ctx", 0, "context size (0: prompt + n)")
	f.BoolVar(&ignoreEOS, "ignore-eos", false, "keep generating after the end-of-sequence token")
	f.Float32Var(&sp.Temperature, "temp", 0, "temperature (0: greedy)")
	f.IntVar(&sp.TopK, "top-k", 0, "sample from the k most likely tokens (0: all)")
	f.Float32Var(&sp.TopP, "top-p", 1, "sample from the smallest set with this probability mass")
	f.Uint64Var(&sp.Seed, "seed", 0, "random seed")
	return cmd
}
