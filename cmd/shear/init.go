package main

import (
	"errors"
	"fmt"
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
	VocabFrom string
	Output    string
	DType     string
	Dim       int
	Hidden    int
	Layers    int
	Heads     int
	KVHeads   int
	Vocab     int
	Ctx       int
	Seed      uint64
	Tied      bool
}

func defaultInitRequest() initRequest {
	return initRequest{DType: "f16", Vocab: 259, Ctx: 256, Seed: 1}
}

func newInit() *cobra.Command {
	req := defaultInitRequest()
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a model with random weights (a benchmark shape or given widths)",
		Long: `Create a GGUF model with random weights (normal, std 0.02; norms near 1).
The shape is --shape 15M or 110M (docs/REFERENCE.md), or --dim --hidden
--layers --heads [--kv-heads] --vocab --ctx; flags given with --shape override
its values. The vocabulary is taken from --vocab-from (a GGUF file; its size
then sets --vocab). Without it the model gets a byte-level vocabulary:
<unk>, <s>, </s> and the 256 byte tokens <0x00>…<0xFF> (259 tokens), padded
with unused tokens up to the vocabulary size, so any text can be tokenized.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(req.Output, req.VocabFrom); err != nil {
				return err
			}
			dt, err := tensor.ParseDType(req.DType)
			if err != nil {
				return fmt.Errorf("--dtype: %w", err)
			}
			var c model.Config
			if req.Shape != "" {
				var ok bool
				if c, ok = model.Shapes[req.Shape]; !ok {
					return fmt.Errorf("--shape %q is not one of 15M, 110M", req.Shape)
				}
			} else {
				for name, v := range map[string]int{"--dim": req.Dim, "--hidden": req.Hidden, "--layers": req.Layers, "--heads": req.Heads} {
					if v <= 0 {
						return fmt.Errorf("without --shape, %s is required (and must be positive)", name)
					}
				}
				c = model.UniformConfig(req.Dim, req.Hidden, req.Layers, req.Heads, req.Heads, 259, 256)
			}
			set := func(name string) bool { return cmd.Flags().Changed(name) }
			h, kv := c.Heads[0], c.KVHeads[0]
			if set("dim") {
				c.Dim = req.Dim
			}
			if set("heads") {
				h, kv = req.Heads, req.Heads
			}
			if set("kv-heads") {
				kv = req.KVHeads
			}
			if set("ctx") {
				c.CtxLen = req.Ctx
			}
			hid := c.FFN[0]
			if set("hidden") {
				hid = req.Hidden
			}
			if set("layers") {
				c.Layers = req.Layers
			}
			if c.Layers <= 0 || c.Layers > 4096 || h <= 0 || kv <= 0 || c.Dim <= 0 || hid <= 0 || c.CtxLen <= 0 {
				return errors.New("dim, hidden, layers, heads, kv-heads and ctx must be positive")
			}
			if c.Dim%h != 0 {
				return fmt.Errorf("--dim %d is not a multiple of --heads %d", c.Dim, h)
			}
			nc := model.UniformConfig(c.Dim, hid, c.Layers, h, kv, c.Vocab, c.CtxLen)
			nc.Tied = req.Tied
			if set("vocab") {
				nc.Vocab = req.Vocab
			}
			var v tokenizer.Vocab
			var meta []gguf.KV
			if req.VocabFrom != "" {
				f, err := gguf.Open(req.VocabFrom)
				if err != nil {
					return err
				}
				tok, err := tokenizer.FromGGUF(f)
				if err != nil {
					return fmt.Errorf("%s: %w", req.VocabFrom, err)
				}
				v = tok.Vocab()
				if set("vocab") && req.Vocab != len(v.Tokens) {
					return fmt.Errorf("--vocab %d differs from the %d tokens of %s", req.Vocab, len(v.Tokens), req.VocabFrom)
				}
				nc.Vocab = len(v.Tokens)
				for _, kv := range f.KV {
					if strings.HasPrefix(kv.Key, "tokenizer.") {
						meta = append(meta, kv)
					}
				}
			} else if v, err = byteVocab(nc.Vocab); err != nil {
				return err
			}
			if err := nc.Validate(); err != nil {
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
			res := map[string]any{"output": req.Output, "params": m.Params(), "bytes": bytes, "dim": nc.Dim, "hidden": hid,
				"layers": nc.Layers, "heads": h, "kv_heads": kv, "vocab": nc.Vocab, "ctx": nc.CtxLen,
				"vocab_source": src, "dtype": dt.String(), "seed": req.Seed}
			return emit(res, func() {
				fmt.Printf("wrote %s (%d parameters, %s, vocabulary %d from %s, %d bytes)\n", req.Output, m.Params(), dt, nc.Vocab, src, bytes)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Shape, "shape", "", "benchmark shape: 15M or 110M")
	f.IntVar(&req.Dim, "dim", 0, "residual width")
	f.IntVar(&req.Hidden, "hidden", 0, "feed-forward width")
	f.IntVar(&req.Layers, "layers", 0, "number of layers")
	f.IntVar(&req.Heads, "heads", 0, "query heads")
	f.IntVar(&req.KVHeads, "kv-heads", 0, "key/value heads (default: --heads)")
	f.IntVar(&req.Vocab, "vocab", 259, "vocabulary size (byte-level vocabulary padded to it)")
	f.IntVar(&req.Ctx, "ctx", 256, "context length")
	f.StringVar(&req.VocabFrom, "vocab-from", "", "GGUF file whose vocabulary the model gets")
	f.Uint64Var(&req.Seed, "seed", 1, "random seed")
	f.StringVar(&req.DType, "dtype", "f16", "weight storage: f32, f16, q8_0 or q4_0")
	f.BoolVar(&req.Tied, "tied", false, "share the output projection with the embedding")
	f.StringVarP(&req.Output, "output", "o", "", "output GGUF file")
	bindRequest(cmd, &req, defaultInitRequest())
	return cmd
}
