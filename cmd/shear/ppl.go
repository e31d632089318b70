package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/eval"
)

func newPPL() *cobra.Command {
	var mf modelFlags
	var ef engineFlags
	var file string
	var ctx, chunks int
	cmd := &cobra.Command{
		Use:   "ppl",
		Short: "Perplexity of a text file (docs/REFERENCE.md protocol)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("no text file given: pass -f FILE")
			}
			if ctx < 2 {
				return fmt.Errorf("--ctx %d must be ≥ 2", ctx)
			}
			if chunks < 0 {
				return fmt.Errorf("--chunks %d must be ≥ 0", chunks)
			}
			if ef.wasm() {
				return perplexityWasm(&ef, &mf, file, ctx, chunks)
			}
			text, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			tokens := m.Tok.Encode(string(text))
			p := newProgress("perplexity", max(1, len(tokens)/(ctx-1)))
			res, err := eval.Perplexity(m, tokens, ctx, chunks, p.update)
			p.finish()
			if err != nil {
				return err
			}
			return emit(res, func() {
				fmt.Printf("ppl %.4f  nll %.5f  tokens scored %d  chunks %d\n", res.PPL, res.NLL, res.Scored, res.Chunks)
			})
		},
	}
	mf.register(cmd)
	ef.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "text file")
	cmd.Flags().IntVar(&ctx, "ctx", 256, "context size: chunks of ctx-1 tokens after BOS")
	cmd.Flags().IntVar(&chunks, "chunks", 0, "score only the first K chunks (0: all)")
	return cmd
}
