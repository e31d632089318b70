package main

// Format commands: convert between GGUF, the Hugging Face layout and
// llama2.c checkpoints; quantize; create a random model of a given shape.
// Every output is written atomically (a temporary file or directory renamed
// into place), so a failure never leaves a partial output, and an output
// that is the input is refused.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/llama2c"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// Model formats.
const (
	fmtGGUF    = "gguf"
	fmtHF      = "hf"
	fmtLlama2c = "llama2c"
)

// detectFormat tells a GGUF file, a Hugging Face directory and a llama2.c
// model.bin apart by their contents.
func detectFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if hf.IsDir(path) {
			return fmtHF, nil
		}
		return "", fmt.Errorf("%s is a directory without config.json: not a Hugging Face model", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, llama2c.HeaderSize)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if strings.HasPrefix(string(head), gguf.Magic) {
		return fmtGGUF, nil
	}
	if _, err := llama2c.ParseHeader(head); err == nil {
		return fmtLlama2c, nil
	} else if n == llama2c.HeaderSize && strings.HasSuffix(path, ".bin") {
		return "", err // a .bin whose header is wrong: say why
	}
	return "", fmt.Errorf("%s is not a GGUF file, a Hugging Face directory or a llama2.c model.bin", path)
}

// sourceDType is the storage of an input's matrices, used when --dtype is
// not given: the most common type of the 2-D GGUF tensors, f32 or f16 from
// an HF config's torch_dtype, f32 for llama2.c.
func sourceDType(path, format string) tensor.DType {
	switch format {
	case fmtGGUF:
		f, err := gguf.Open(path)
		if err != nil {
			return tensor.F16
		}
		count := map[tensor.DType]int{}
		for _, t := range f.Tensors {
			if len(t.Dims) != 2 {
				continue
			}
			switch t.Type {
			case gguf.F32:
				count[tensor.F32]++
			case gguf.Q8_0:
				count[tensor.Q8_0]++
			case gguf.Q4_0:
				count[tensor.Q4_0]++
			default:
				count[tensor.F16]++
			}
		}
		best := tensor.F16
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
			if count[dt] > count[best] {
				best = dt
			}
		}
		return best
	case fmtHF:
		b, err := os.ReadFile(filepath.Join(path, hf.ConfigFile))
		if err == nil {
			if c, err := hf.ParseConfig(b); err == nil && c.TorchDType == "float32" {
				return tensor.F32
			}
		}
		return tensor.F16
	}
	return tensor.F32
}

// loadAny reads a model in any format. tokPath is the vocabulary of a
// llama2.c input: a tokenizer.bin or a GGUF file (default: tokenizer.bin
// beside the model).
func loadAny(path, format, tokPath string, dt tensor.DType) (*model.Model, error) {
	opt := model.LoadOptions{DType: dt}
	switch format {
	case fmtGGUF:
		return model.Load(path, opt)
	case fmtHF:
		return hf.Load(path, opt)
	}
	raw := make([]byte, llama2c.HeaderSize)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(f, raw)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	hdr, err := llama2c.ParseHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tokPath == "" {
		tokPath = filepath.Join(filepath.Dir(path), "tokenizer.bin")
		if _, err := os.Stat(tokPath); err != nil {
			return nil, fmt.Errorf("a llama2.c model needs its vocabulary: pass --tokenizer tokenizer.bin (or a GGUF file with the vocabulary)")
		}
	}
	var vocab tokenizer.Vocab
	var meta []gguf.KV
	if isGGUF(tokPath) {
		vf, err := gguf.Open(tokPath)
		if err != nil {
			return nil, err
		}
		tok, err := tokenizer.FromGGUF(vf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tokPath, err)
		}
		vocab = tok.Vocab()
		for _, kv := range vf.KV {
			if strings.HasPrefix(kv.Key, "tokenizer.") {
				meta = append(meta, kv)
			}
		}
	} else if vocab, err = llama2c.ReadTokenizer(tokPath, hdr.Vocab); err != nil {
		return nil, err
	}
	m, err := llama2c.Load(path, vocab, opt)
	if err != nil {
		return nil, err
	}
	m.Meta = meta
	return m, nil
}

func isGGUF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == gguf.Magic
}

// checkOutput refuses an output that is (or would replace) an input.
func checkOutput(out string, inputs ...string) error {
	if out == "" {
		return errors.New("no output given: pass -o OUTPUT")
	}
	if err := checkOutputDir(out); err != nil {
		return err
	}
	ao, _ := filepath.Abs(out)
	so, errOut := os.Stat(out)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		ai, _ := filepath.Abs(in)
		if ao == ai {
			return fmt.Errorf("output %s is the input: refusing to overwrite it", out)
		}
		if si, err := os.Stat(in); err == nil && errOut == nil && os.SameFile(si, so) {
			return fmt.Errorf("output %s is the input %s: refusing to overwrite it", out, in)
		}
	}
	return nil
}

// outputFormat picks the output format from --to or the output's name.
func outputFormat(to, out string) (string, error) {
	switch to {
	case fmtGGUF, fmtHF, fmtLlama2c:
		return to, nil
	case "":
	default:
		return "", fmt.Errorf("--to %q is not one of gguf, hf, llama2c", to)
	}
	switch ext := strings.ToLower(filepath.Ext(out)); {
	case ext == ".gguf":
		return fmtGGUF, nil
	case ext == ".bin":
		return fmtLlama2c, nil
	case ext == "":
		return fmtHF, nil
	}
	return "", fmt.Errorf("cannot tell the output format from %q: pass --to gguf|hf|llama2c", out)
}

// sizeOf is the size of a file, or of the files in a directory.
func sizeOf(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func newConvert() *cobra.Command {
	var in, out, to, dtype, tokIn, tokOut string
	var shard int64
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert a model between GGUF, the Hugging Face layout and llama2.c",
		Long: `Convert a model between formats. The input format is detected: a GGUF file,
a Hugging Face directory (config.json, model.safetensors or shards,
tokenizer.model) or a llama2.c model.bin (with --tokenizer tokenizer.bin or a
GGUF file holding the vocabulary; default tokenizer.bin beside it). The output
format is --to, or follows from the output name: .gguf, .bin (llama2.c), or a
name without extension (a Hugging Face directory).

--dtype sets the matrix storage of the output (default: that of the input).
Hugging Face output takes f32, f16 or bf16 (quantized matrices are
dequantized); llama2.c output is always f32, with tokenizer.bin written beside
it (--tokenizer-out). Outputs are written atomically and never replace the
input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" {
				return errors.New("no input given: pass -m MODEL")
			}
			format, err := detectFormat(in)
			if err != nil {
				return err
			}
			outFmt, err := outputFormat(to, out)
			if err != nil {
				return err
			}
			if outFmt == fmtLlama2c && tokOut == "" {
				tokOut = filepath.Join(filepath.Dir(out), "tokenizer.bin")
			}
			if err := checkOutput(out, in, tokIn); err != nil {
				return err
			}
			if tokOut != "" {
				if err := checkOutput(tokOut, in, tokIn, out); err != nil {
					return err
				}
			}
			loadDT, hfDT := sourceDType(in, format), ""
			runtime.GC() // sourceDType read a GGUF whole: free it before loading
			switch {
			case dtype == "":
			case outFmt == fmtHF && dtype == "bf16":
				loadDT, hfDT = tensor.F32, "BF16"
			default:
				if loadDT, err = tensor.ParseDType(dtype); err != nil {
					return fmt.Errorf("--dtype: %w", err)
				}
			}
			switch outFmt {
			case fmtHF:
				if loadDT == tensor.Q8_0 || loadDT == tensor.Q4_0 {
					if dtype != "" {
						return fmt.Errorf("--dtype %s: the Hugging Face layout holds f32, f16 or bf16", dtype)
					}
					loadDT = tensor.F16 // a quantized input is written dequantized
				}
				if hfDT == "" {
					hfDT = map[tensor.DType]string{tensor.F32: "F32", tensor.F16: "F16"}[loadDT]
				}
			case fmtLlama2c:
				if dtype != "" && dtype != "f32" {
					return fmt.Errorf("--dtype %s: llama2.c checkpoints are float32 only", dtype)
				}
				loadDT = tensor.F32
			}
			p := newProgress("convert", 2)
			m, err := loadAny(in, format, tokIn, loadDT)
			if err != nil {
				return err
			}
			p.update(1, 2)
			files := []string{out}
			switch outFmt {
			case fmtGGUF:
				err = m.Save(out)
			case fmtHF:
				err = hf.Save(m, out, hf.SaveOptions{DType: hfDT, ShardBytes: shard})
			case fmtLlama2c:
				if err = llama2c.Check(m); err == nil && m.Tok == nil {
					err = errors.New("the model has no vocabulary to write to tokenizer.bin")
				}
				if err == nil {
					err = llama2c.WriteTokenizer(tokOut, m.Tok.Vocab())
				}
				if err == nil {
					if err = llama2c.Save(m, out); err != nil {
						os.Remove(tokOut)
					}
				}
				files = append(files, tokOut)
			}
			if err != nil {
				return err
			}
			p.update(2, 2)
			p.finish()
			var bytes int64
			for _, f := range files {
				bytes += sizeOf(f)
			}
			outDT := loadDT.String()
			if outFmt == fmtHF {
				outDT = strings.ToLower(hfDT)
			}
			res := map[string]any{"input": in, "input_format": format, "output": out, "format": outFmt,
				"dtype": outDT, "params": m.Params(), "bytes": bytes, "files": files}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %s, %d parameters, %d bytes)\n", strings.Join(files, " + "), outFmt, outDT, m.Params(), bytes)
			})
		},
	}
	cmd.Flags().StringVarP(&in, "model", "m", "", "input: GGUF file, Hugging Face directory or llama2.c model.bin")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file or directory")
	cmd.Flags().StringVar(&to, "to", "", "output format: gguf, hf or llama2c (default: from the output name)")
	cmd.Flags().StringVar(&dtype, "dtype", "", "output matrix storage: f32, f16, q8_0, q4_0 (GGUF), bf16 (HF); default: the input's")
	cmd.Flags().StringVar(&tokIn, "tokenizer", "", "vocabulary of a llama2.c input: tokenizer.bin or a GGUF file")
	cmd.Flags().StringVar(&tokOut, "tokenizer-out", "", "tokenizer.bin path for llama2.c output (default: beside the output)")
	cmd.Flags().Int64Var(&shard, "shard-bytes", 0, "Hugging Face output: split the weights into shards of at most this many bytes")
	return cmd
}

func newQuantize() *cobra.Command {
	var in, out, typ, tokIn string
	cmd := &cobra.Command{
		Use:   "quantize",
		Short: "Write a model's matrices as f16, q8_0 or q4_0 GGUF",
		Long: `Write a GGUF copy of a model (any input format convert reads) with its
matrices stored as --type. As llama.cpp does, a matrix whose rows are not a
whole number of 32-value blocks stays f16 under q8_0 and q4_0; norms stay f32.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" {
				return errors.New("no input given: pass -m MODEL")
			}
			dt, err := tensor.ParseDType(typ)
			if err != nil {
				return fmt.Errorf("--type: %w", err)
			}
			if err := checkOutput(out, in, tokIn); err != nil {
				return err
			}
			format, err := detectFormat(in)
			if err != nil {
				return err
			}
			p := newProgress("quantize", 2)
			m, err := loadAny(in, format, tokIn, dt)
			if err != nil {
				return err
			}
			p.update(1, 2)
			if err := m.Save(out); err != nil {
				return err
			}
			p.update(2, 2)
			p.finish()
			inBytes, outBytes := sizeOf(in), sizeOf(out)
			res := map[string]any{"input": in, "output": out, "type": dt.String(), "params": m.Params(),
				"bytes": outBytes, "input_bytes": inBytes}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %d parameters, %d bytes; input %d bytes)\n", out, dt, m.Params(), outBytes, inBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&in, "model", "m", "", "input model (GGUF, Hugging Face directory or llama2.c .bin)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output GGUF file")
	cmd.Flags().StringVar(&typ, "type", "q8_0", "storage: f32, f16, q8_0 or q4_0")
	cmd.Flags().StringVar(&tokIn, "tokenizer", "", "vocabulary of a llama2.c input")
	return cmd
}

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

func newInit() *cobra.Command {
	var shape, vocabFrom, out, dtype string
	var dim, hidden, layers, heads, kvHeads, vocab, ctx int
	var seed uint64
	var tied bool
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
			if err := checkOutput(out, vocabFrom); err != nil {
				return err
			}
			dt, err := tensor.ParseDType(dtype)
			if err != nil {
				return fmt.Errorf("--dtype: %w", err)
			}
			var c model.Config
			if shape != "" {
				var ok bool
				if c, ok = model.Shapes[shape]; !ok {
					return fmt.Errorf("--shape %q is not one of 15M, 110M", shape)
				}
			} else {
				for name, v := range map[string]int{"--dim": dim, "--hidden": hidden, "--layers": layers, "--heads": heads} {
					if v <= 0 {
						return fmt.Errorf("without --shape, %s is required (and must be positive)", name)
					}
				}
				c = model.UniformConfig(dim, hidden, layers, heads, heads, 259, 256)
			}
			set := func(name string) bool { return cmd.Flags().Changed(name) }
			h, kv := c.Heads[0], c.KVHeads[0]
			if set("dim") {
				c.Dim = dim
			}
			if set("heads") {
				h, kv = heads, heads
			}
			if set("kv-heads") {
				kv = kvHeads
			}
			if set("ctx") {
				c.CtxLen = ctx
			}
			hid := c.FFN[0]
			if set("hidden") {
				hid = hidden
			}
			if set("layers") {
				c.Layers = layers
			}
			if c.Layers <= 0 || c.Layers > 4096 || h <= 0 || kv <= 0 || c.Dim <= 0 || hid <= 0 || c.CtxLen <= 0 {
				return errors.New("dim, hidden, layers, heads, kv-heads and ctx must be positive")
			}
			if c.Dim%h != 0 {
				return fmt.Errorf("--dim %d is not a multiple of --heads %d", c.Dim, h)
			}
			nc := model.UniformConfig(c.Dim, hid, c.Layers, h, kv, c.Vocab, c.CtxLen)
			nc.Tied = tied
			if set("vocab") {
				nc.Vocab = vocab
			}
			var v tokenizer.Vocab
			var meta []gguf.KV
			if vocabFrom != "" {
				f, err := gguf.Open(vocabFrom)
				if err != nil {
					return err
				}
				tok, err := tokenizer.FromGGUF(f)
				if err != nil {
					return fmt.Errorf("%s: %w", vocabFrom, err)
				}
				v = tok.Vocab()
				if set("vocab") && vocab != len(v.Tokens) {
					return fmt.Errorf("--vocab %d differs from the %d tokens of %s", vocab, len(v.Tokens), vocabFrom)
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
			m, err := model.NewRandom(nc, dt, seed)
			if err != nil {
				return err
			}
			m.Tok, m.Meta = tok, meta
			m.Meta = append(m.Meta, gguf.KV{Key: "general.name", Type: gguf.TypeString, Value: "shear-random"})
			if err := m.Save(out); err != nil {
				return err
			}
			src := "byte-level"
			if vocabFrom != "" {
				src = vocabFrom
			}
			bytes := sizeOf(out)
			res := map[string]any{"output": out, "params": m.Params(), "bytes": bytes, "dim": nc.Dim, "hidden": hid,
				"layers": nc.Layers, "heads": h, "kv_heads": kv, "vocab": nc.Vocab, "ctx": nc.CtxLen,
				"vocab_source": src, "dtype": dt.String(), "seed": seed}
			return emit(res, func() {
				fmt.Printf("wrote %s (%d parameters, %s, vocabulary %d from %s, %d bytes)\n", out, m.Params(), dt, nc.Vocab, src, bytes)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&shape, "shape", "", "benchmark shape: 15M or 110M")
	f.IntVar(&dim, "dim", 0, "residual width")
	f.IntVar(&hidden, "hidden", 0, "feed-forward width")
	f.IntVar(&layers, "layers", 0, "number of layers")
	f.IntVar(&heads, "heads", 0, "query heads")
	f.IntVar(&kvHeads, "kv-heads", 0, "key/value heads (default: --heads)")
	f.IntVar(&vocab, "vocab", 259, "vocabulary size (byte-level vocabulary padded to it)")
	f.IntVar(&ctx, "ctx", 256, "context length")
	f.StringVar(&vocabFrom, "vocab-from", "", "GGUF file whose vocabulary the model gets")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.StringVar(&dtype, "dtype", "f16", "weight storage: f32, f16, q8_0 or q4_0")
	f.BoolVar(&tied, "tied", false, "share the output projection with the embedding")
	f.StringVarP(&out, "output", "o", "", "output GGUF file")
	return cmd
}
