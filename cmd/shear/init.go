package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/model"
)

// initRequest is what `shear init` reads from its flags.
type initRequest struct {
	Shape     string
	Arch      string
	VocabFrom string
	Output    string
	DType     string
	Dim       int
	Hidden    int
	Layers    int
	Heads     int
	KVHeads   int
	HeadDim   int
	Vocab     int
	Ctx       int
	RopeBase  float32
	Scaling   string
	Factor    float32
	LowFreq   float32
	HighFreq  float32
	OrigCtx   int
	Seed      uint64
	Tied      bool
}

func defaultInitRequest() initRequest {
	d := app.InitRequest{}.Default()
	return initRequest{Arch: d.Spec.Arch, DType: d.DType, Vocab: d.Spec.Vocab, Ctx: d.Spec.Ctx, Seed: d.Seed, LowFreq: 1, HighFreq: 4}
}

// familySpec is the shape init builds: --shape's (when given) with every
// flag the user set laid over it.
func (req *initRequest) familySpec(set func(string) bool) (model.FamilySpec, error) {
	var s model.FamilySpec
	if req.Shape != "" {
		c, ok := model.Shapes[req.Shape]
		if !ok {
			return s, fmt.Errorf("--shape %q is not one of %s", req.Shape, app.ShapeNames())
		}
		s = model.FamilySpec{Arch: c.Arch, Dim: c.Dim, FFN: c.FFN[0], Layers: c.Layers, Heads: c.Heads[0], KVHeads: c.KVHeads[0],
			Vocab: c.Vocab, Ctx: c.CtxLen, RopeBase: c.RopeBase, NormEps: c.NormEps, Tied: c.Tied, RopeScaling: c.RopeScaling}
		if c.HeadDim != c.Dim/c.Heads[0] {
			s.HeadDim = c.HeadDim // Qwen3's heads are not dim/heads wide
		}
	} else {
		for name, v := range map[string]int{"--dim": req.Dim, "--hidden": req.Hidden, "--layers": req.Layers, "--heads": req.Heads} {
			if v <= 0 {
				return s, fmt.Errorf("without --shape, %s is required (and must be positive)", name)
			}
		}
		s = model.FamilySpec{Arch: req.Arch, Vocab: req.Vocab, Ctx: req.Ctx}
	}
	if set("arch") {
		s.Arch = req.Arch
	}
	for name, dst := range map[string]*int{"dim": &s.Dim, "hidden": &s.FFN, "layers": &s.Layers, "heads": &s.Heads, "head-dim": &s.HeadDim, "vocab": &s.Vocab, "ctx": &s.Ctx} {
		if set(name) || req.Shape == "" {
			*dst = map[string]int{"dim": req.Dim, "hidden": req.Hidden, "layers": req.Layers, "heads": req.Heads, "head-dim": req.HeadDim, "vocab": req.Vocab, "ctx": req.Ctx}[name]
		}
	}
	switch {
	case set("kv-heads"):
		s.KVHeads = req.KVHeads
	case set("heads") || req.Shape == "":
		s.KVHeads = s.Heads
	}
	if set("rope-base") {
		s.RopeBase = req.RopeBase
	}
	if set("tied") || req.Shape == "" {
		s.Tied = req.Tied
	}
	if set("rope-scaling") {
		s.RopeScaling = model.RopeScaling{}
		switch req.Scaling {
		case "none":
		case "linear":
			s.RopeScaling = model.RopeScaling{Type: "linear", Factor: req.Factor}
		case "llama3":
			s.RopeScaling = model.RopeScaling{Type: "llama3", Factor: req.Factor, LowFreqFactor: req.LowFreq, HighFreqFactor: req.HighFreq, OrigCtx: req.OrigCtx}
		default:
			return s, fmt.Errorf("--rope-scaling %q: must be none, linear or llama3", req.Scaling)
		}
	}
	if req.VocabFrom != "" && !set("vocab") {
		s.Vocab = 0 // the vocabulary's own size
	}
	return s, nil
}

func newInit() *cobra.Command {
	req := defaultInitRequest()
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a model with random weights (a benchmark or family shape, or given widths)",
		Long: `Create a GGUF model with random weights (normal, std 0.02; norms near 1).
The shape is --shape NAME (` + app.ShapeNames() + `; see
docs/FORMATS.md), or --arch --dim --hidden --layers --heads [--kv-heads]
[--head-dim] --vocab --ctx; flags given with --shape override its values.
--arch llama is Llama/Mistral/SmolLM2/TinyLlama, qwen2 adds q/k/v biases,
qwen3 per-head q/k norms (both rotate with NeoX RoPE). --rope-scaling
linear|llama3 with --rope-factor (and --rope-low-freq, --rope-high-freq,
--rope-orig-ctx for llama3) scales RoPE as Llama-3.x does.
The vocabulary is taken from --vocab-from (a GGUF file, or a Hugging Face
directory with tokenizer.json; its size then sets --vocab). Without it the
model gets a byte-level vocabulary: <unk>, <s>, </s> and the 256 byte tokens
<0x00>…<0xFF> (259 tokens), padded with unused tokens up to the vocabulary
size, so any text can be tokenized.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := req.familySpec(func(name string) bool { return cmd.Flags().Changed(name) })
			if err != nil {
				return err
			}
			res, err := app.Init(app.InitRequest{Spec: spec, VocabFrom: req.VocabFrom, DType: req.DType, Seed: req.Seed, Output: req.Output})
			if err != nil {
				return err
			}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %d parameters, %s, vocabulary %d (%s) from %s, %d bytes)\n", res.Output, res.Arch, res.Params, res.DType, res.Vocab, res.Tokenizer, res.VocabSource, res.Bytes)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Shape, "shape", req.Shape, "benchmark or family shape: "+app.ShapeNames())
	f.StringVar(&req.Arch, "arch", req.Arch, "family: llama, qwen2 or qwen3")
	f.IntVar(&req.Dim, "dim", req.Dim, "residual width")
	f.IntVar(&req.Hidden, "hidden", req.Hidden, "feed-forward width")
	f.IntVar(&req.Layers, "layers", req.Layers, "number of layers")
	f.IntVar(&req.Heads, "heads", req.Heads, "query heads")
	f.IntVar(&req.KVHeads, "kv-heads", req.KVHeads, "key/value heads (default: --heads)")
	f.IntVar(&req.HeadDim, "head-dim", req.HeadDim, "width of a head (default: dim/heads)")
	f.IntVar(&req.Vocab, "vocab", req.Vocab, "vocabulary size (byte-level vocabulary padded to it)")
	f.IntVar(&req.Ctx, "ctx", req.Ctx, "context length")
	f.Float32Var(&req.RopeBase, "rope-base", req.RopeBase, "RoPE θ (default: the family's, 10000 for llama, 1e6 for qwen)")
	f.StringVar(&req.Scaling, "rope-scaling", req.Scaling, "RoPE scaling: none, linear or llama3")
	f.Float32Var(&req.Factor, "rope-factor", req.Factor, "RoPE scaling factor")
	f.Float32Var(&req.LowFreq, "rope-low-freq", req.LowFreq, "llama3 scaling: low-frequency factor")
	f.Float32Var(&req.HighFreq, "rope-high-freq", req.HighFreq, "llama3 scaling: high-frequency factor")
	f.IntVar(&req.OrigCtx, "rope-orig-ctx", req.OrigCtx, "llama3 scaling: the original context length")
	f.StringVar(&req.VocabFrom, "vocab-from", req.VocabFrom, "GGUF file or tokenizer.json directory whose vocabulary the model gets")
	f.Uint64Var(&req.Seed, "seed", req.Seed, "random seed")
	f.StringVar(&req.DType, "dtype", req.DType, "weight storage: f32, f16, q8_0 or q4_0")
	f.BoolVar(&req.Tied, "tied", req.Tied, "share the output projection with the embedding")
	f.StringVarP(&req.Output, "output", "o", req.Output, "output GGUF file")
	bindRequest(cmd, &req, defaultInitRequest())
	return cmd
}
