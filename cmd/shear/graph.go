package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/gguf"
)

func newGraph() *cobra.Command {
	var mf modelFlags
	var rank int
	var hidden bool
	var format, out string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Dependency graph of a model with its LoRA modules, and its prunable groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "dot" {
				return fmt.Errorf("--format %q must be json or dot", format)
			}
			if rank < 0 {
				return fmt.Errorf("--lora-rank %d must be ≥ 0", rank)
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			g := graph.Build(m, graph.Options{Hidden: hidden, LoRARank: rank})
			var text []byte
			if format == "dot" {
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
				doc := map[string]any{"model": mf.path, "params": m.Params(), "lora_rank": rank, "hidden": hidden,
					"kinds": summary, "prunable": prunable, "groups": g.Groups, "nodes": g.Nodes, "edges": g.Edges,
					"node_groups": g.NodeGroups}
				if text, err = json.MarshalIndent(doc, "", " "); err != nil {
					return err
				}
				text = append(text, '\n')
			}
			if out == "" || out == "-" {
				_, err = os.Stdout.Write(text)
				return err
			}
			if err := gguf.WriteFileAtomic(out, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
				return err
			}
			kinds := map[string]int{}
			for _, gr := range g.Groups {
				kinds[gr.Kind]++
			}
			return emit(map[string]any{"output": out, "groups": len(g.Groups), "kinds": kinds}, func() {
				fmt.Fprintf(os.Stderr, "wrote %s (%d groups)\n", out, len(g.Groups))
			})
		},
	}
	mf.register(cmd)
	cmd.Flags().IntVar(&rank, "lora-rank", 8, "rank of the LoRA modules composed into the linears (0: none)")
	cmd.Flags().BoolVar(&hidden, "hidden", false, "make hidden (residual) channels prunable")
	cmd.Flags().StringVar(&format, "format", "json", "json or dot")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default stdout)")
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

func newCompress() *cobra.Command {
	var mf modelFlags
	var remove, mask, out string
	var hidden bool
	cmd := &cobra.Command{
		Use:   "compress",
		Short: "Remove groups (ids from `shear graph`) and write the smaller dense model",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (remove == "") == (mask == "") {
				return errors.New("pass exactly one of --remove ID,ID,... and --mask FILE")
			}
			if out == "" {
				return errors.New("no output: pass -o OUT.gguf")
			}
			if err := checkOutput(out, mf.path); err != nil {
				return err
			}
			var ids []int
			var err error
			if remove != "" {
				ids, err = parseIDs(remove)
			} else {
				ids, err = readMask(mask)
			}
			if err != nil {
				return err
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			g := graph.Build(m, graph.Options{Hidden: hidden})
			groups, err := prune.Select(g, ids)
			if err != nil {
				return err
			}
			cm, _, err := prune.Compress(m, nil, g, groups)
			if err != nil {
				return err
			}
			if err := cm.Save(out); err != nil {
				return err
			}
			res := map[string]any{"output": out, "params_before": m.Params(), "params_after": cm.Params(),
				"ratio": 1 - float64(cm.Params())/float64(m.Params()), "removed_groups": len(groups),
				"heads": cm.Heads, "kv_heads": cm.KVHeads, "ffn": cm.FFN, "dim": cm.Dim}
			return emit(res, func() {
				fmt.Printf("removed %d groups: %d → %d parameters (%.1f%%); wrote %s\n", len(groups), m.Params(), cm.Params(),
					100*(1-float64(cm.Params())/float64(m.Params())), out)
				fmt.Printf("per layer: heads %v, kv heads %v, ffn %v\n", cm.Heads, cm.KVHeads, cm.FFN)
			})
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVar(&remove, "remove", "", "comma-separated group ids")
	cmd.Flags().StringVar(&mask, "mask", "", "JSON file of group ids to remove")
	cmd.Flags().BoolVar(&hidden, "hidden", false, "group ids refer to a graph built with --hidden")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output GGUF")
	return cmd
}
