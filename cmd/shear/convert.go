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

	"github.com/shear-ai/shear/internal/safefile"
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
	return safefile.CheckOutput(out, inputs...)
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

// convertRequest is what `shear convert` reads from its flags.
type convertRequest struct {
	Input        string
	Output       string
	To           string
	DType        string
	Tokenizer    string
	TokenizerOut string
	ShardBytes   int64
}

func defaultConvertRequest() convertRequest { return convertRequest{} }

func newConvert() *cobra.Command {
	req := defaultConvertRequest()
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
			if req.Input == "" {
				return errors.New("no input given: pass -m MODEL")
			}
			format, err := detectFormat(req.Input)
			if err != nil {
				return err
			}
			outFmt, err := outputFormat(req.To, req.Output)
			if err != nil {
				return err
			}
			if outFmt == fmtLlama2c && req.TokenizerOut == "" {
				req.TokenizerOut = filepath.Join(filepath.Dir(req.Output), "tokenizer.bin")
			}
			if err := checkOutput(req.Output, req.Input, req.Tokenizer); err != nil {
				return err
			}
			if req.TokenizerOut != "" {
				if err := checkOutput(req.TokenizerOut, req.Input, req.Tokenizer, req.Output); err != nil {
					return err
				}
			}
			loadDT, hfDT := sourceDType(req.Input, format), ""
			runtime.GC() // sourceDType read a GGUF whole: free it before loading
			switch {
			case req.DType == "":
			case outFmt == fmtHF && req.DType == "bf16":
				loadDT, hfDT = tensor.F32, "BF16"
			default:
				if loadDT, err = tensor.ParseDType(req.DType); err != nil {
					return fmt.Errorf("--dtype: %w", err)
				}
			}
			switch outFmt {
			case fmtHF:
				if loadDT == tensor.Q8_0 || loadDT == tensor.Q4_0 {
					if req.DType != "" {
						return fmt.Errorf("--dtype %s: the Hugging Face layout holds f32, f16 or bf16", req.DType)
					}
					loadDT = tensor.F16 // a quantized input is written dequantized
				}
				if hfDT == "" {
					hfDT = map[tensor.DType]string{tensor.F32: "F32", tensor.F16: "F16"}[loadDT]
				}
			case fmtLlama2c:
				if req.DType != "" && req.DType != "f32" {
					return fmt.Errorf("--dtype %s: llama2.c checkpoints are float32 only", req.DType)
				}
				loadDT = tensor.F32
			}
			ctx, stop := interruptible()
			defer stop()
			p := newProgress("convert", 2)
			m, err := loadAny(req.Input, format, req.Tokenizer, loadDT)
			if err != nil {
				return err
			}
			p.update(1, 2)
			if ctx.Err() != nil {
				return errInterrupted
			}
			files := []string{req.Output}
			switch outFmt {
			case fmtGGUF:
				err = saveGGUF(ctx, m, req.Output)
			case fmtHF:
				err = hf.Save(m, req.Output, hf.SaveOptions{DType: hfDT, ShardBytes: req.ShardBytes})
			case fmtLlama2c:
				if err = llama2c.Check(m); err == nil && m.Tok == nil {
					err = errors.New("the model has no vocabulary to write to tokenizer.bin")
				}
				if err == nil {
					err = llama2c.WriteTokenizer(req.TokenizerOut, m.Tok.Vocab())
				}
				if err == nil {
					if err = llama2c.Save(m, req.Output); err != nil {
						os.Remove(req.TokenizerOut)
					}
				}
				files = append(files, req.TokenizerOut)
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
			outDT := storageNames(m)
			if outFmt == fmtHF {
				outDT = strings.ToLower(hfDT)
			}
			inBytes := sizeOf(req.Input)
			res := map[string]any{"input": req.Input, "input_format": format, "output": req.Output, "format": outFmt,
				"dtype": outDT, "params": m.Params(), "bytes": bytes, "input_bytes": inBytes, "files": files}
			return emit(res, func() {
				fmt.Printf("wrote %s (%s, %s, %d parameters): %s → %s bytes\n", strings.Join(files, " + "), outFmt, outDT, m.Params(), commas(inBytes), commas(bytes))
			})
		},
	}
	cmd.Flags().StringVarP(&req.Input, "model", "m", "", "input: GGUF file, Hugging Face directory or llama2.c model.bin")
	cmd.Flags().StringVarP(&req.Output, "output", "o", "", "output file or directory")
	cmd.Flags().StringVar(&req.To, "to", "", "output format: gguf, hf or llama2c (default: from the output name)")
	cmd.Flags().StringVar(&req.DType, "dtype", "", "output matrix storage: f32, f16, q8_0, q4_0 (GGUF), bf16 (HF); default: the input's")
	cmd.Flags().StringVar(&req.Tokenizer, "tokenizer", "", "vocabulary of a llama2.c input: tokenizer.bin or a GGUF file")
	cmd.Flags().StringVar(&req.TokenizerOut, "tokenizer-out", "", "tokenizer.bin path for llama2.c output (default: beside the output)")
	cmd.Flags().Int64Var(&req.ShardBytes, "shard-bytes", 0, "Hugging Face output: split the weights into shards of at most this many bytes")
	bindRequest(cmd, &req, defaultConvertRequest())
	return cmd
}
