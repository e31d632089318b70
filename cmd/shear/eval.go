package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/eval"
)

// modelEval is one model's scores in `shear eval`.
type modelEval struct {
	Model  string                    `json:"model"`
	Params int                       `json:"params"`
	PPL    map[string]eval.PPLResult `json:"ppl,omitempty"`
	MC     map[string]eval.MCResult  `json:"mc,omitempty"`
}

// evalRequest is what `shear eval` reads from its flags.
type evalRequest struct {
	Model    modelFlags
	Engine   engineFlags
	PPLFiles []string
	MCFiles  []string
	Baseline string
	PPL      app.PerplexityRequest // Text is each --ppl file's
}

func defaultEval() evalRequest {
	return evalRequest{Model: defaultModelFlags(), Engine: defaultEngineFlags(), PPL: app.PerplexityRequest{}.Default()}
}

func newEval() *cobra.Command {
	req := defaultEval()
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Perplexity (--ppl) and multiple-choice accuracy (--mc), optionally side by side with a baseline model",
		Long: `Perplexity (--ppl, llama.cpp's protocol) and lm-eval-style multiple-choice
accuracy (--mc: acc and the length-normalized acc_norm) of a model, and of
--baseline beside it with their ratio. See docs/EVALUATION.md for both
protocols. Without --ppl and --mc, the perplexity of the embedded held-out
Austen text.`,
		Example: `  shear eval                                     # the embedded model, held-out text
  shear eval -m pruned.gguf --baseline model.gguf --ppl heldout.txt --mc items.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(&req) },
	}
	req.Model.register(cmd)
	req.Engine.register(cmd)
	cmd.Flags().StringArrayVar(&req.PPLFiles, "ppl", req.PPLFiles, "text file for perplexity (repeatable)")
	cmd.Flags().StringArrayVar(&req.MCFiles, "mc", req.MCFiles, "multiple-choice JSONL ({context, choices, gold}; repeatable)")
	cmd.Flags().StringVar(&req.Baseline, "baseline", req.Baseline, "baseline model to compare with, side by side")
	registerPPLFlags(cmd, &req.PPL)
	bindRequest(cmd, &req, defaultEval())
	return cmd
}

// shortNames names files by their base names in table headers, unless
// two share a base name.
func shortNames(files []string) map[string]string {
	names, seen := map[string]string{}, map[string]int{}
	for _, f := range files {
		seen[filepath.Base(f)]++
	}
	for _, f := range files {
		names[f] = f
		if seen[filepath.Base(f)] == 1 {
			names[f] = filepath.Base(f)
		}
	}
	return names
}

func printEvalTable(results []modelEval, ppls, mcs []string) {
	var head []string
	head = append(head, "model", "params")
	short := shortNames(append(slices.Clone(ppls), mcs...))
	for _, f := range ppls {
		head = append(head, "ppl "+short[f])
	}
	for _, f := range mcs {
		head = append(head, "acc "+short[f], "acc_norm "+short[f])
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
			fmt.Printf("ppl ratio (model / baseline) on %s: %.3f×\n", short[f], p.PPL[f].PPL/b.PPL[f].PPL)
		}
		for _, f := range mcs {
			if b.MC[f].Acc > 0 {
				fmt.Printf("acc retained on %s: %.1f%%\n", short[f], 100*p.MC[f].Acc/b.MC[f].Acc)
			}
		}
	}
}
