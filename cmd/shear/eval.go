package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
)

// modelEval is one model's scores in `shear eval`.
type modelEval struct {
	Model  string                    `json:"model"`
	Params int                       `json:"params"`
	PPL    map[string]eval.PPLResult `json:"ppl,omitempty"`
	MC     map[string]eval.MCResult  `json:"mc,omitempty"`
}

func evalOne(m *model.Model, name string, ppls, mcs []string, ctx, chunks int) (modelEval, error) {
	r := modelEval{Model: name, Params: m.Params(), PPL: map[string]eval.PPLResult{}, MC: map[string]eval.MCResult{}}
	for _, f := range ppls {
		text, err := os.ReadFile(f)
		if err != nil {
			return r, err
		}
		tokens := m.Tok.Encode(string(text))
		p := newProgress("perplexity "+f, max(1, len(tokens)/(ctx-1)))
		res, err := eval.Perplexity(m, tokens, ctx, chunks, p.update)
		p.finish()
		if err != nil {
			return r, fmt.Errorf("%s: %w", f, err)
		}
		r.PPL[f] = res
	}
	for _, f := range mcs {
		items, err := eval.ReadMC(f)
		if err != nil {
			return r, err
		}
		p := newProgress("multiple choice "+f, len(items))
		res, err := eval.MultipleChoice(m, items, 512, p.update)
		p.finish()
		if err != nil {
			return r, fmt.Errorf("%s: %w", f, err)
		}
		r.MC[f] = res
	}
	return r, nil
}

func newEval() *cobra.Command {
	var mf modelFlags
	var ef engineFlags
	var ppls, mcs []string
	var baseline string
	var ctx, chunks int
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Perplexity (--ppl) and multiple-choice accuracy (--mc), optionally side by side with a baseline model",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(ppls) == 0 && len(mcs) == 0 {
				return errors.New("nothing to evaluate: pass --ppl FILE and/or --mc FILE.jsonl (repeatable)")
			}
			if ctx < 2 || chunks < 0 {
				return fmt.Errorf("--ctx must be ≥ 2 and --chunks ≥ 0")
			}
			if ef.wasm() {
				return evalWasm(&ef, &mf, baseline, ppls, mcs, ctx, chunks)
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			name := mf.path
			if name == "" {
				name = "default"
			}
			results := []modelEval{}
			if baseline != "" {
				bf := modelFlags{path: baseline, dtype: mf.dtype}
				bm, err := bf.load()
				if err != nil {
					return err
				}
				r, err := evalOne(bm, baseline, ppls, mcs, ctx, chunks)
				if err != nil {
					return err
				}
				results = append(results, r)
			}
			r, err := evalOne(m, name, ppls, mcs, ctx, chunks)
			if err != nil {
				return err
			}
			results = append(results, r)
			out := map[string]any{"models": results}
			// The single-model, single-file forms keep the flat keys.
			if len(mcs) > 0 {
				res := r.MC[mcs[0]]
				out["n"], out["acc"], out["acc_norm"] = res.N, res.Acc, res.AccNorm
			}
			if len(ppls) > 0 {
				res := r.PPL[ppls[0]]
				out["ppl"], out["nll"], out["tokens_scored"], out["chunks"] = res.PPL, res.NLL, res.Scored, res.Chunks
			}
			return emit(out, func() { printEvalTable(results, ppls, mcs) })
		},
	}
	mf.register(cmd)
	ef.register(cmd)
	cmd.Flags().StringArrayVar(&ppls, "ppl", nil, "text file for perplexity (repeatable)")
	cmd.Flags().StringArrayVar(&mcs, "mc", nil, "multiple-choice JSONL ({context, choices, gold}; repeatable)")
	cmd.Flags().StringVar(&baseline, "baseline", "", "baseline model to compare with, side by side")
	cmd.Flags().IntVar(&ctx, "ctx", 256, "perplexity context: chunks of ctx-1 tokens after BOS")
	cmd.Flags().IntVar(&chunks, "chunks", 0, "score only the first K perplexity chunks (0: all)")
	return cmd
}

func printEvalTable(results []modelEval, ppls, mcs []string) {
	var head []string
	head = append(head, "model", "params")
	for _, f := range ppls {
		head = append(head, "ppl "+f)
	}
	for _, f := range mcs {
		head = append(head, "acc "+f, "acc_norm "+f)
	}
	fmt.Println("| " + strings.Join(head, " | ") + " |")
	fmt.Println("|" + strings.Repeat("---|", len(head)))
	for _, r := range results {
		row := []string{r.Model, fmt.Sprint(r.Params)}
		for _, f := range ppls {
			row = append(row, fmt.Sprintf("%.4f", r.PPL[f].PPL))
		}
		for _, f := range mcs {
			row = append(row, fmt.Sprintf("%.3f", r.MC[f].Acc), fmt.Sprintf("%.3f", r.MC[f].AccNorm))
		}
		fmt.Println("| " + strings.Join(row, " | ") + " |")
	}
	if len(results) == 2 {
		b, p := results[0], results[1]
		for _, f := range ppls {
			fmt.Printf("ppl ratio (model / baseline) on %s: %.3f×\n", f, p.PPL[f].PPL/b.PPL[f].PPL)
		}
		for _, f := range mcs {
			if b.MC[f].Acc > 0 {
				fmt.Printf("acc retained on %s: %.1f%%\n", f, 100*p.MC[f].Acc/b.MC[f].Acc)
			}
		}
	}
}
