package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// mergeRequest is what `shear merge` reads from its flags.
type mergeRequest struct {
	Model   modelFlags
	Output  string
	Request app.MergeRequest
}

func defaultMergeRequest() mergeRequest {
	return mergeRequest{Model: defaultModelFlags(), Request: app.MergeRequest{}.Default()}
}

func newMerge() *cobra.Command {
	req := defaultMergeRequest()
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Merge a PEFT LoRA adapter into a model and write GGUF",
		Example: `  shear merge -m model.gguf --adapter ft/ -o merged.gguf           # finetune's output directory
  shear merge -m model.gguf --adapter peft-adapter/ --dtype q8_0 -o merged-q8.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Request.Adapter == "" || req.Output == "" {
				return errors.New("pass --adapter DIR and -o OUT.gguf")
			}
			if err := checkOutput(req.Output, req.Model.path, req.Request.Adapter); err != nil {
				return err
			}
			m, dt, err := req.Model.loadAndStorage()
			if err != nil {
				return err
			}
			res, err := app.Merge(m, req.Request)
			if err != nil {
				return err
			}
			ctx, stop := interruptible()
			defer stop()
			w, err := req.Model.writeModel(ctx, m, dt, req.Output)
			if err != nil {
				return err
			}
			return emit(map[string]any{"output": req.Output, "dtype": w.DType, "bytes": w.Bytes, "input_bytes": w.InputBytes,
				"params": res.Params, "adapter_params": res.AdapterParams}, func() {
				fmt.Printf("merged %d adapter parameters\n%s\n", res.AdapterParams, w)
			})
		},
	}
	req.Model.registerOutput(cmd)
	cmd.Flags().StringVar(&req.Request.Adapter, "adapter", req.Request.Adapter, "PEFT adapter directory (or the finetune output directory holding it)")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output GGUF")
	bindRequest(cmd, &req, defaultMergeRequest())
	return cmd
}
