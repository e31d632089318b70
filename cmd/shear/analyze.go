package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// analyzeRequest is what `shear analyze` reads from its flags.
type analyzeRequest struct {
	Model   modelFlags
	Output  string
	Request app.AnalyzeRequest
}

func defaultAnalyzeRequest() analyzeRequest {
	return analyzeRequest{Model: defaultModelFlags(), Request: app.AnalyzeRequest{}.Default()}
}

func newAnalyze() *cobra.Command {
	req := defaultAnalyzeRequest()
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Knowledge distribution analysis: loss deviation of removing each group",
		Long: `Knowledge distribution analysis, as prune and lorashear run it: the loss
deviation of removing each group, measured on a probe of about 128 tokens cut
from the first --calib-seqs calibration sequences. Writes analysis.json and
heatmap.png (mean deviation per layer and kind) into -o.`,
		Example: `  shear analyze --calib text.txt -o analysis/
  shear analyze -m model.gguf --calib texts/ --hidden -o analysis/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r := req.Request
			if r.Calib == "" || req.Output == "" {
				return errors.New("pass --calib PATH and -o DIR")
			}
			if err := r.Validate(); err != nil {
				return err
			}
			req.Model.keepFloat = req.Model.dtype == ""
			m, err := req.Model.load()
			if err != nil {
				return err
			}
			bars := stageBars{}
			res, err := app.Analyze(m, r, bars.update)
			bars.finish()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(req.Output, 0o755); err != nil {
				return err
			}
			a, means := res.Analysis, res.LayerKindMean
			js, _ := json.MarshalIndent(res, "", " ")
			if err := os.WriteFile(filepath.Join(req.Output, "analysis.json"), append(js, '\n'), 0o644); err != nil {
				return err
			}
			if err := saveHeatmap(filepath.Join(req.Output, "heatmap.png"), "where the knowledge is: mean loss deviation of removing a group, per layer", means); err != nil {
				return err
			}
			return emit(map[string]any{"base_loss": a.BaseLoss, "groups": len(a.Deviation), "unprunable": len(a.Unprunable), "layer_kind_mean": means, "output": req.Output}, func() {
				fmt.Printf("base loss %.4f; %d groups analysed; %d marked unprunable (γ = %g); wrote %s\n", a.BaseLoss, len(a.Deviation), len(a.Unprunable), r.Gamma, req.Output)
				for k, v := range means {
					fmt.Printf("  %-9s %v\n", k, v)
				}
			})
		},
	}
	req.Model.register(cmd)
	r := &req.Request
	cmd.Flags().StringVar(&r.Calib, "calib", r.Calib, "calibration text file or directory")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output directory")
	cmd.Flags().Float64Var(&r.Gamma, "gamma", r.Gamma, "fraction of groups marked unprunable")
	cmd.Flags().IntVar(&r.Ctx, "ctx", r.Ctx, "tokens per calibration sequence")
	cmd.Flags().IntVar(&r.CalibSeqs, "calib-seqs", r.CalibSeqs, "calibration sequences")
	cmd.Flags().BoolVar(&r.Hidden, "hidden", r.Hidden, "include hidden channels")
	cmd.Flags().IntVar(&r.Confirm, "confirm", r.Confirm, "groups nearest the top-γ boundary probed exactly after the Taylor estimate of all (-1: probe every group)")
	bindRequest(cmd, &req, defaultAnalyzeRequest())
	return cmd
}
