package app

// Format operations: convert between GGUF, the Hugging Face layout and
// llama2.c checkpoints; quantize. Every output is written atomically (a
// temporary file or directory renamed into place), so a failure never
// leaves a partial output, and an output that is the input is refused.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

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
	FormatGGUF    = "gguf"
	FormatHF      = "hf"
	FormatLlama2c = "llama2c"
)

// ConvertRequest is `shear convert`: Input (any format DetectFormat
// tells) written to Output as To (default: from Output's name).
type ConvertRequest struct {
	Input        string `json:"input"`
	Output       string `json:"output"`
	To           string `json:"to,omitempty"`            // gguf, hf or llama2c
	DType        string `json:"dtype,omitempty"`         // output matrix storage; default: the input's
	Tokenizer    string `json:"tokenizer,omitempty"`     // vocabulary of a llama2.c input
	TokenizerOut string `json:"tokenizer_out,omitempty"` // tokenizer.bin of a llama2.c output (default: beside it)
	ShardBytes   int64  `json:"shard_bytes,omitempty"`   // Hugging Face output: at most this many bytes a shard (0: one file)
}

// Default is `shear convert`'s request without input or output.
func (ConvertRequest) Default() ConvertRequest { return ConvertRequest{} }

// ConvertResult is what `shear convert` reports.
type ConvertResult struct {
	Input       string   `json:"input"`
	InputFormat string   `json:"input_format"`
	Output      string   `json:"output"`
	Format      string   `json:"format"`
	DType       string   `json:"dtype"`
	Params      int      `json:"params"`
	Bytes       int64    `json:"bytes"` // of every file written
	InputBytes  int64    `json:"input_bytes"`
	Files       []string `json:"files"`
}

// Convert runs req; progress sees stage "convert" loaded (1 of 2) and
// written (2 of 2). A cancelled ctx stops it before or while writing,
// leaving no output.
func Convert(ctx context.Context, req ConvertRequest, progress Progress) (ConvertResult, error) {
	res := ConvertResult{Input: req.Input, Output: req.Output}
	if req.Input == "" {
		return res, badRequest("no input given: pass -m MODEL")
	}
	format, err := DetectFormat(req.Input)
	if err != nil {
		return res, err
	}
	outFmt, err := OutputFormat(req.To, req.Output)
	if err != nil {
		return res, err
	}
	if outFmt == FormatLlama2c && req.TokenizerOut == "" {
		req.TokenizerOut = filepath.Join(filepath.Dir(req.Output), "tokenizer.bin")
	}
	if err := CheckOutput(req.Output, req.Input, req.Tokenizer); err != nil {
		return res, err
	}
	if req.TokenizerOut != "" {
		if err := CheckOutput(req.TokenizerOut, req.Input, req.Tokenizer, req.Output); err != nil {
			return res, err
		}
	}
	loadDT, hfDT := SourceDType(req.Input, format), ""
	runtime.GC() // SourceDType read a GGUF whole: free it before loading
	switch {
	case req.DType == "":
	case outFmt == FormatHF && req.DType == "bf16":
		loadDT, hfDT = tensor.F32, "BF16"
	default:
		if loadDT, err = tensor.ParseDType(req.DType); err != nil {
			return res, badRequest("--dtype: %v", err)
		}
	}
	switch outFmt {
	case FormatHF:
		if loadDT == tensor.Q8_0 || loadDT == tensor.Q4_0 {
			if req.DType != "" {
				return res, badRequest("--dtype %s: the Hugging Face layout holds f32, f16 or bf16", req.DType)
			}
			loadDT = tensor.F16 // a quantized input is written dequantized
		}
		if hfDT == "" {
			hfDT = map[tensor.DType]string{tensor.F32: "F32", tensor.F16: "F16"}[loadDT]
		}
	case FormatLlama2c:
		if req.DType != "" && req.DType != "f32" {
			return res, badRequest("--dtype %s: llama2.c checkpoints are float32 only", req.DType)
		}
		loadDT = tensor.F32
	}
	m, err := LoadAny(req.Input, format, req.Tokenizer, loadDT)
	if err != nil {
		return res, err
	}
	progress("convert", 1, 2, 0)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	files := []string{req.Output}
	switch outFmt {
	case FormatGGUF:
		err = SaveGGUF(ctx, m, req.Output)
	case FormatHF:
		err = hf.Save(m, req.Output, hf.SaveOptions{DType: hfDT, ShardBytes: req.ShardBytes})
	case FormatLlama2c:
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
		return res, err
	}
	progress("convert", 2, 2, 0)
	for _, f := range files {
		res.Bytes += SizeOf(f)
	}
	res.DType = StorageNames(m)
	if outFmt == FormatHF {
		res.DType = strings.ToLower(hfDT)
	}
	res.InputFormat, res.Format, res.Params, res.InputBytes, res.Files = format, outFmt, m.Params(), SizeOf(req.Input), files
	return res, nil
}

// QuantizeRequest is `shear quantize`: a GGUF copy of Input with its
// matrices stored as Type. As llama.cpp does, a matrix whose rows are not
// a whole number of 32-value blocks stays f16 under q8_0 and q4_0; norms
// stay f32.
type QuantizeRequest struct {
	Input     string `json:"input"`
	Output    string `json:"output"`
	Type      string `json:"type"`                // f32, f16, q8_0 or q4_0
	Tokenizer string `json:"tokenizer,omitempty"` // vocabulary of a llama2.c input
}

// Default is `shear quantize`'s request without input or output: q8_0.
func (QuantizeRequest) Default() QuantizeRequest { return QuantizeRequest{Type: "q8_0"} }

// QuantizeResult is what `shear quantize` reports.
type QuantizeResult struct {
	Input      string `json:"input"`
	Output     string `json:"output"`
	Type       string `json:"type"`
	Params     int    `json:"params"`
	Bytes      int64  `json:"bytes"`
	InputBytes int64  `json:"input_bytes"`
}

// Quantize runs req; progress sees stage "quantize" as Convert's.
func Quantize(ctx context.Context, req QuantizeRequest, progress Progress) (QuantizeResult, error) {
	res := QuantizeResult{Input: req.Input, Output: req.Output}
	if req.Input == "" {
		return res, badRequest("no input given: pass -m MODEL")
	}
	dt, err := tensor.ParseDType(req.Type)
	if err != nil {
		return res, badRequest("--type: %v", err)
	}
	res.Type = dt.String()
	if err := CheckOutput(req.Output, req.Input, req.Tokenizer); err != nil {
		return res, err
	}
	format, err := DetectFormat(req.Input)
	if err != nil {
		return res, err
	}
	m, err := LoadAny(req.Input, format, req.Tokenizer, dt)
	if err != nil {
		return res, err
	}
	progress("quantize", 1, 2, 0)
	if err := SaveGGUF(ctx, m, req.Output); err != nil {
		return res, err
	}
	progress("quantize", 2, 2, 0)
	res.Params, res.Bytes, res.InputBytes = m.Params(), SizeOf(req.Output), SizeOf(req.Input)
	return res, nil
}

// DetectFormat tells a GGUF file, a Hugging Face directory and a llama2.c
// model.bin apart by their contents.
func DetectFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if hf.IsDir(path) {
			return FormatHF, nil
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
		return FormatGGUF, nil
	}
	if _, err := llama2c.ParseHeader(head); err == nil {
		return FormatLlama2c, nil
	} else if n == llama2c.HeaderSize && strings.HasSuffix(path, ".bin") {
		return "", err // a .bin whose header is wrong: say why
	}
	return "", fmt.Errorf("%s is not a GGUF file, a Hugging Face directory or a llama2.c model.bin", path)
}

// SourceDType is the storage of an input's matrices, used when no output
// storage is named: the most common type of the 2-D GGUF tensors, f32 or
// f16 from an HF config's torch_dtype, f32 for llama2.c.
func SourceDType(path, format string) tensor.DType {
	switch format {
	case FormatGGUF:
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
	case FormatHF:
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

// LoadAny reads a model in any format. tokPath is the vocabulary of a
// llama2.c input: a tokenizer.bin or a GGUF file (default: tokenizer.bin
// beside the model).
func LoadAny(path, format, tokPath string, dt tensor.DType) (*model.Model, error) {
	opt := model.LoadOptions{DType: dt}
	switch format {
	case FormatGGUF:
		return model.Load(path, opt)
	case FormatHF:
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
		meta = tokenizerMeta(vf)
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

// tokenizerMeta is a GGUF file's tokenizer metadata, carried over as it
// is into a model that takes its vocabulary.
func tokenizerMeta(f *gguf.File) []gguf.KV {
	var meta []gguf.KV
	for _, kv := range f.KV {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			meta = append(meta, kv)
		}
	}
	return meta
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

// OutputFormat picks the output format from to or the output's name.
func OutputFormat(to, out string) (string, error) {
	switch to {
	case FormatGGUF, FormatHF, FormatLlama2c:
		return to, nil
	case "":
	default:
		return "", badRequest("--to %q is not one of gguf, hf, llama2c", to)
	}
	switch ext := strings.ToLower(filepath.Ext(out)); {
	case ext == ".gguf":
		return FormatGGUF, nil
	case ext == ".bin":
		return FormatLlama2c, nil
	case ext == "":
		return FormatHF, nil
	}
	return "", badRequest("cannot tell the output format from %q: pass --to gguf|hf|llama2c", out)
}

// CheckOutput refuses an output that is (or would replace) an input, and
// one whose directory does not exist (it is not created).
func CheckOutput(out string, inputs ...string) error {
	if out == "" {
		return badRequest("no output given: pass -o OUTPUT")
	}
	if err := CheckOutputDir(out); err != nil {
		return err
	}
	return safefile.CheckOutput(out, inputs...)
}

// CheckOutputDir refuses an output whose directory does not exist
// instead of creating it.
func CheckOutputDir(out string) error {
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("the output's directory %s does not exist", dir)
	}
	return nil
}

// SizeOf is the size of a file, or of the files in a directory.
func SizeOf(path string) int64 {
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

// StorageNames names the storage types of m's matrices, e.g. "q4_k+q6_k".
func StorageNames(m *model.Model) string {
	var names []string
	for _, d := range m.StorageTypes() {
		names = append(names, d.String())
	}
	return strings.Join(names, "+")
}

// SaveGGUF is m.Save that a cancelled ctx stops between writes: the
// temporary file is removed and a previous file at out stays as it was
// (the CLI's Ctrl-C would otherwise end the process mid-write and leave
// the temporary file beside out). It returns ctx's error when cancelled.
func SaveGGUF(ctx context.Context, m *model.Model, out string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := m.GGUF()
	if err != nil {
		return err
	}
	err = gguf.WriteFileAtomic(out, func(w io.Writer) error {
		_, err := b.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ctxWriter fails every write once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
