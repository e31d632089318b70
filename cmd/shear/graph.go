package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/gguf"
)

// graphRequest is what `shear graph` reads from its flags.
type graphRequest struct {
	Model    modelFlags
	LoRARank int
	Hidden   bool
	Format   string
	Output   string
}

func defaultGraphRequest() graphRequest {
	return graphRequest{Model: defaultModelFlags(), LoRARank: 8, Format: "json"}
}

func newGraph() *cobra.Command {
	req := defaultGraphRequest()
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Dependency graph of a model with its LoRA modules, and its prunable groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Format != "json" && req.Format != "dot" {
				return fmt.Errorf("--format %q must be json or dot", req.Format)
			}
			if err := valid.Int("--lora-rank", req.LoRARank, 0, 1<<12); err != nil {
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
			g := graph.Build(m, graph.Options{Hidden: req.Hidden, LoRARank: req.LoRARank})
			var text []byte
			if req.Format == "dot" {
				text = []byte(g.DOT())
			} else {
				summary := map[string]int{}
				prunable := 0
				for _, gr := range g.Groups {
					summary[gr.Kind]++
					if gr.Prunable {
						prunable++
					}
				}
				doc := map[string]any{"model": req.Model.path, "params": m.Params(), "lora_rank": req.LoRARank, "hidden": req.Hidden,
					"kinds": summary, "prunable": prunable, "groups": g.Groups, "nodes": g.Nodes, "edges": g.Edges,
					"node_groups": g.NodeGroups}
				if text, err = json.MarshalIndent(doc, "", " "); err != nil {
					return err
				}
				text = append(text, '\n')
			}
			if req.Output == "" || req.Output == "-" {
				if globalJSON() && req.Format == "dot" { // --json promises one JSON object on stdout
					return emit(map[string]any{"dot": string(text), "groups": len(g.Groups)}, nil)
				}
				_, err = os.Stdout.Write(text)
				return err
			}
			if err := gguf.WriteFileAtomic(req.Output, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
				return err
			}
			kinds := map[string]int{}
			for _, gr := range g.Groups {
				kinds[gr.Kind]++
			}
			return emit(map[string]any{"output": req.Output, "groups": len(g.Groups), "kinds": kinds}, func() {
				fmt.Fprintf(os.Stderr, "wrote %s (%d groups)\n", req.Output, len(g.Groups))
			})
		},
	}
	req.Model.register(cmd)
	cmd.Flags().IntVar(&req.LoRARank, "lora-rank", 8, "rank of the LoRA modules composed into the linears (0: none)")
	cmd.Flags().BoolVar(&req.Hidden, "hidden", false, "make hidden (residual) channels prunable")
	cmd.Flags().StringVar(&req.Format, "format", "json", "json or dot")
	cmd.Flags().StringVarP(&req.Output, "output", "o", "", "output file (default stdout)")
	bindRequest(cmd, &req, defaultGraphRequest())
	return cmd
}

// readMask reads group ids from a JSON file: an array of ids, or an
// object with "remove": [ids].
func readMask(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []int
	if err := json.Unmarshal(b, &ids); err == nil {
		return ids, nil
	}
	var obj struct {
		Remove []int `json:"remove"`
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj.Remove == nil {
		return nil, fmt.Errorf("%s: want a JSON array of group ids or {\"remove\": [...]}", path)
	}
	return obj.Remove, nil
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("--remove: %q is not a group id", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
