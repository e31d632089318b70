package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
)

// compressRequest is what `shear compress` reads from its flags.
type compressRequest struct {
	Model  modelFlags
	Remove string
	Mask   string
	Output string
	Hidden bool
}

func defaultCompressRequest() compressRequest { return compressRequest{Model: defaultModelFlags()} }

func newCompress() *cobra.Command {
	req := defaultCompressRequest()
	cmd := &cobra.Command{
		Use:   "compress",
		Short: "Remove groups (ids from `shear graph`) and write the smaller dense model",
		Example: `  shear graph -m model.gguf -o graph.json          # the groups and their ids
  shear compress -m model.gguf --remove 0,1,25 -o smaller.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (req.Remove == "") == (req.Mask == "") {
				return errors.New("pass exactly one of --remove ID,ID,... and --mask FILE")
			}
			if req.Output == "" {
				return errors.New("no output: pass -o OUT.gguf")
			}
			if err := checkOutput(req.Output, req.Model.path); err != nil {
				return err
			}
			var ids []int
			var err error
			if req.Remove != "" {
				ids, err = parseIDs(req.Remove)
			} else {
				ids, err = readMask(req.Mask)
			}
			if err != nil {
				return err
			}
			m, dt, err := req.Model.loadAndStorage()
			if err != nil {
				return err
			}
			g := graph.Build(m, graph.Options{Hidden: req.Hidden})
			groups, err := prune.Select(g, ids)
			if err != nil {
				return err
			}
			cm, _, err := prune.Compress(m, nil, g, groups)
			if err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			w, err := req.Model.writeModel(ctx, cm, dt, req.Output)
			if err != nil {
				return err
			}
			res := map[string]any{"output": req.Output, "dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes,
				"params_before": m.Params(), "params_after": cm.Params(),
				"ratio": 1 - float64(cm.Params())/float64(m.Params()), "removed_groups": len(groups),
				"heads": cm.Heads, "kv_heads": cm.KVHeads, "ffn": cm.FFN, "dim": cm.Dim}
			return emit(res, func() {
				fmt.Printf("removed %d groups: %d → %d parameters (%.1f%%)\n%s\n", len(groups), m.Params(), cm.Params(),
					100*(1-float64(cm.Params())/float64(m.Params())), w)
				fmt.Printf("per layer: heads %v, kv heads %v, ffn %v\n", cm.Heads, cm.KVHeads, cm.FFN)
			})
		},
	}
	req.Model.registerOutput(cmd)
	cmd.Flags().StringVar(&req.Remove, "remove", "", "comma-separated group ids")
	cmd.Flags().StringVar(&req.Mask, "mask", "", "JSON file of group ids to remove")
	cmd.Flags().BoolVar(&req.Hidden, "hidden", false, "group ids refer to a graph built with --hidden")
	cmd.Flags().StringVarP(&req.Output, "output", "o", "", "output GGUF")
	bindRequest(cmd, &req, defaultCompressRequest())
	return cmd
}
