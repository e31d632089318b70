package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// compressRequest is what `shear compress` reads from its flags.
type compressRequest struct {
	Model  modelFlags
	Remove string
	Mask   string
	Output string
	Hidden bool
}

func defaultCompressRequest() compressRequest {
	return compressRequest{Model: defaultModelFlags(), Hidden: app.CompressRequest{}.Default().Hidden}
}

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
				ids, err = app.ParseIDs(req.Remove)
			} else {
				ids, err = app.ReadMask(req.Mask)
			}
			if err != nil {
				return err
			}
			m, dt, err := req.Model.loadAndStorage()
			if err != nil {
				return err
			}
			cm, res, err := app.Compress(m, app.CompressRequest{Remove: ids, Hidden: req.Hidden})
			if err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			w, err := req.Model.writeModel(ctx, cm, dt, req.Output)
			if err != nil {
				return err
			}
			return emit(struct {
				Output     string `json:"output"`
				DType      string `json:"dtype"`
				Bytes      int64  `json:"bytes"`
				InputBytes int64  `json:"input_bytes"`
				app.CompressResult
			}{req.Output, w.DType, w.Bytes, w.InputBytes, res}, func() {
				fmt.Printf("removed %d groups: %d → %d parameters (%.1f%%)\n%s\n", res.RemovedGroups, res.ParamsBefore, res.ParamsAfter, 100*res.Ratio, w)
				fmt.Printf("per layer: heads %v, kv heads %v, ffn %v\n", res.Heads, res.KVHeads, res.FFN)
			})
		},
	}
	req.Model.registerOutput(cmd)
	cmd.Flags().StringVar(&req.Remove, "remove", req.Remove, "comma-separated group ids")
	cmd.Flags().StringVar(&req.Mask, "mask", req.Mask, "JSON file of group ids to remove")
	cmd.Flags().BoolVar(&req.Hidden, "hidden", req.Hidden, "group ids refer to a graph built with --hidden")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output GGUF")
	bindRequest(cmd, &req, defaultCompressRequest())
	return cmd
}
