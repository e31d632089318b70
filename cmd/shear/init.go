package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// byteVocab is the vocabulary init uses without --vocab-from: <unk>, <s>,
// </s> and the 256 byte tokens (llama2.c's 259-token byte-level layout),
// padded with unused tokens up to n.
func byteVocab(n int) (tokenizer.Vocab, error) {
	const base = 3 + 256
	if n < base {
		return tokenizer.Vocab{}, fmt.Errorf("--vocab %d: the byte-level vocabulary needs at least %d tokens (or pass --vocab-from)", n, base)
	}
	v := tokenizer.Vocab{BOS: 1, EOS: 2, UNK: 0, AddSpacePrefix: true, AddBOS: true}
	add := func(text string, typ int32) {
		v.Tokens = append(v.Tokens, text)
		v.Scores = append(v.Scores, 0)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", tokenizer.TypeUnknown)
	add("<s>", tokenizer.TypeControl)
	add("</s>", tokenizer.TypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), tokenizer.TypeByte)
	}
	for i := base; i < n; i++ {
		add(fmt.Sprintf("<unused%d>", i-base), tokenizer.TypeUnused)
	}
	return v, nil
}

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
	return initRequest{Arch: "llama", DType: "f16", Vocab: 259, Ctx: 256, Seed: 1, LowFreq: 1, HighFreq: 4}
}

// shapeNames lists model.Shapes for help texts and errors.
func shapeNames() string {
	names := make([]string, 0, len(model.Shapes))
	for n := range model.Shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// familySpec is the shape init builds: --shape's (when given) with every
// flag the user set laid over it.
func (req *initRequest) familySpec(set func(string) bool) (model.FamilySpec, error) {
	var s model.FamilySpec
	if req.Shape != "" {
		c, ok := model.Shapes[req.Shape]
		if !ok {
			return s, fmt.Errorf("--shape %q is not one of %s", req.Shape, shapeNames())
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
	if s.Layers <= 0 || s.Layers > 4096 || s.Heads <= 0 || s.KVHeads <= 0 || s.Dim <= 0 || s.FFN <= 0 || s.Ctx <= 0 {
		return s, errors.New("dim, hidden, layers (at most 4096), heads, kv-heads and ctx must be positive")
	}
	if s.HeadDim == 0 && s.Dim%s.Heads != 0 {
		return s, fmt.Errorf("--dim %d is not a multiple of --heads %d (or pass --head-dim)", s.Dim, s.Heads)
	}
	return s, nil
}

// initVocab reads --vocab-from: a GGUF file (its tokenizer metadata is
// carried over as it is) or a Hugging Face tokenizer.json directory
// (padded to --vocab when that is given, as transformers pads the
// embedding).
func initVocab(path string, vocab int, setVocab bool) (tokenizer.Vocab, []gguf.KV, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		n := 0
		if setVocab {
			n = vocab
		}
		v, err := tokenizer.FromHFDir(path, n)
		return v, nil, err
	}
	v, err := tokenizer.LoadVocab(path)
	if err != nil {
		return v, nil, err
	}
	if setVocab && vocab != len(v.Tokens) {
		return v, nil, fmt.Errorf("--vocab %d differs from the %d tokens of %s", vocab, len(v.Tokens), path)
	}
	var meta []gguf.KV
	if f, err := gguf.Open(path); err == nil {
		for _, kv := range f.KV {
			if strings.HasPrefix(kv.Key, "tokenizer.") {
				meta = append(meta, kv)
			}
		}
	}
	return v, meta, nil
}

func newInit() *cobra.Command {
	req := defaultInitRequest()
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a model with random weights (a benchmark or family shape, or given widths)",
		Long: `Create a GGUF model with random weights (normal, std 0.02; norms near 1).
The shape is --shape NAME (` + shapeNames() + `; see
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
			if err := checkOutput(req.Output, req.VocabFrom); err != nil {
				return err
			}
			dt, err := tensor.ParseDType(req.DType)
			if err != nil {
				return fmt.Errorf("--dtype: %w", err)
			}
			set := func(name string) bool { return cmd.Flags().Changed(name) }
			spec, err := req.familySpec(set)
			if err != nil {
				return err
			}
			var v tokenizer.Vocab
			var meta []gguf.KV
			if req.VocabFrom != "" {
				if v, meta, err = initVocab(req.VocabFrom, spec.Vocab, set("vocab")); err != nil {
					return err
				}
				spec.Vocab = len(v.Tokens)
			} else if v, err = byteVocab(spec.Vocab); err != nil {
				return err
			}
			nc, err := model.FamilyConfig(spec)
			if err != nil {
				return err
			}
			tok, err := tokenizer.New(v)
			if err != nil {
				return err
			}
			m, err := model.NewRandom(nc, dt, req.Seed)
			if err != nil {
				return err
			}
			m.Tok, m.Meta = tok, meta
			m.Meta = append(m.Meta, gguf.KV{Key: "general.name", Type: gguf.TypeString, Value: "shear-random"})
			if err := m.Save(req.Output); err != nil {
				return err
			}
			src := "byte-level"
			if req.VocabFrom != "" {
				src = req.VocabFrom
			}
			bytes := sizeOf(req.Output)
			res := map[string]any{"output": req.Output, "arch": nc.Arch, "params": m.Params(), "bytes": bytes, "dim": nc.Dim, "hidden": nc.FFN[0],
				"layers": nc.Layers, "heads": nc.Heads[0], "kv_heads": nc.KVHeads[0], "head_dim": nc.HeadDim, "vocab": nc.Vocab, "ctx": nc.CtxLen,
				"rope_base": nc.RopeBase, "rope_scaling": nc.RopeScaling.Type, "tied": nc.Tied,
				"tokenizer": tok.Model(), "vocab_source": src, "dtype": dt.String(), "seed": req.Seed}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %d parameters, %s, vocabulary %d (%s) from %s, %d bytes)\n", req.Output, nc.Arch, m.Params(), dt, nc.Vocab, tok.Model(), src, bytes)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Shape, "shape", req.Shape, "benchmark or family shape: "+shapeNames())
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
