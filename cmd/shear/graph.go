package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/gguf"
)

// graphRequest is what `shear graph` reads from its flags.
type graphRequest struct {
	Model   modelFlags
	Output  string
	Request app.GraphRequest
}

func defaultGraphRequest() graphRequest {
	return graphRequest{Model: defaultModelFlags(), Request: app.GraphRequest{}.Default()}
}

func newGraph() *cobra.Command {
	req := defaultGraphRequest()
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Dependency graph of a model with its LoRA modules, and its prunable groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r := req.Request
			if err := r.Validate(); err != nil {
				return err
			}
			if req.Output != "" && req.Output != "-" {
				if err := checkOutput(req.Output, req.Model.path); err != nil {
					return err
				}
			}
			m, err := req.Model.load()
			if err != nil {
				return err
			}
			res, err := app.Graph(m, r)
			if err != nil {
				return err
			}
			res.Model = req.Model.path
			text := []byte(res.DOT)
			if r.Format == "json" {
				if text, err = json.MarshalIndent(res, "", " "); err != nil {
					return err
				}
				text = append(text, '\n')
			}
			if req.Output == "" || req.Output == "-" {
				if globalJSON() && r.Format == "dot" { // --json promises one JSON object on stdout
					return emit(map[string]any{"dot": res.DOT, "groups": len(res.Groups)}, nil)
				}
				_, err = os.Stdout.Write(text)
				return err
			}
			if err := gguf.WriteFileAtomic(req.Output, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
				return err
			}
			return emit(map[string]any{"output": req.Output, "groups": len(res.Groups), "kinds": res.Kinds}, func() {
				fmt.Fprintf(os.Stderr, "wrote %s (%d groups)\n", req.Output, len(res.Groups))
			})
		},
	}
	req.Model.register(cmd)
	r := &req.Request
	cmd.Flags().IntVar(&r.LoRARank, "lora-rank", r.LoRARank, "rank of the LoRA modules composed into the linears (0: none)")
	cmd.Flags().BoolVar(&r.Hidden, "hidden", r.Hidden, "make hidden (residual) channels prunable")
	cmd.Flags().StringVar(&r.Format, "format", r.Format, "json or dot")
	cmd.Flags().StringVarP(&req.Output, "output", "o", req.Output, "output file (default stdout)")
	bindRequest(cmd, &req, defaultGraphRequest())
	return cmd
}
