package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
)

// infoRequest is what `shear info` reads from its flags.
type infoRequest struct {
	Model string
}

func defaultInfoRequest() infoRequest { return infoRequest{} }

func newInfo() *cobra.Command {
	req := defaultInfoRequest()
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show a model's configuration, per-layer widths, parameters and tensors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mf := modelFlags{path: req.Model} // the default load: says what other commands store
			f, err := mf.file()
			if err != nil {
				return err
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			type tensorRow struct {
				Name string   `json:"name"`
				Type string   `json:"type"`
				Dims []uint64 `json:"dims"`
				Size uint64   `json:"bytes"`
			}
			type layerRow struct {
				Heads   int `json:"heads"`
				KVHeads int `json:"kv_heads"`
				FFN     int `json:"ffn"`
				Params  int `json:"params"`
			}
			var tensors []tensorRow
			for _, t := range f.Tensors {
				tensors = append(tensors, tensorRow{t.Name, t.Type.String(), t.Dims, t.Size})
			}
			var layers []layerRow
			for l := 0; l < m.Layers; l++ {
				layers = append(layers, layerRow{m.Heads[l], m.KVHeads[l], m.FFN[l], m.LayerParams(l)})
			}
			c := m.Config
			out := map[string]any{
				"arch": c.Arch, "dim": c.Dim, "layers": c.Layers, "vocab": c.Vocab, "context_length": c.CtxLen,
				"head_dim": c.HeadDim, "rope_dim": c.RopeDim, "rope_base": c.RopeBase, "norm_eps": c.NormEps,
				"tied_output": c.Tied, "gated_mlp": c.Gated, "qkv_bias": c.QKVBias, "out_bias": c.OutBias, "qk_norm": c.QKNorm,
				"rope_scaling": c.RopeScaling, "tokenizer": m.Tok.Model(), "pre_tokenizer": m.Tok.Pre(),
				"params": m.Params(), "storage": app.StorageNames(m), "per_layer": layers, "tensors": tensors, "gguf_version": f.Version,
			}
			return emit(out, func() {
				fmt.Printf("arch %s  dim %d  layers %d  vocab %d  head dim %d  rope dim %d (base %g)  eps %g\n",
					c.Arch, c.Dim, c.Layers, c.Vocab, c.HeadDim, c.RopeDim, c.RopeBase, c.NormEps)
				fmt.Printf("tied output %v  gated MLP %v  qkv bias %v  o/down bias %v  q/k norm %v  parameters %d  storage in memory %s\n", c.Tied, c.Gated, c.QKVBias, c.OutBias, c.QKNorm, m.Params(), app.StorageNames(m))
				scaling := "none"
				if r := c.RopeScaling; r.Type == "linear" {
					scaling = fmt.Sprintf("linear (factor %g)", r.Factor)
				} else if r.Type == "llama3" {
					scaling = fmt.Sprintf("llama3 (factor %g, low %g, high %g, original context %d)", r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OrigCtx)
				}
				tok := m.Tok.Model()
				if pre := m.Tok.Pre(); pre != "" {
					tok += ", pre-tokenizer " + pre
				}
				fmt.Printf("rope scaling %s  tokenizer %s\n", scaling, tok)
				fmt.Println("layer  heads  kv  ffn  params")
				for l, r := range layers {
					fmt.Printf("%5d  %5d  %2d  %4d  %d\n", l, r.Heads, r.KVHeads, r.FFN, r.Params)
				}
				fmt.Println("tensors:")
				for _, t := range tensors {
					fmt.Printf("  %-28s %-5s %v\n", t.Name, t.Type, t.Dims)
				}
			})
		},
	}
	cmd.Flags().StringVarP(&req.Model, "model", "m", "", "GGUF model file (default: the embedded Austen model)")
	bindRequest(cmd, &req, defaultInfoRequest())
	return cmd
}
