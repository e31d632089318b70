package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/safetensors"
	"github.com/shear-ai/shear/runtime/sentencepiece"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// File names in a Hugging Face model directory.
const (
	ConfigFile          = "config.json"
	WeightsFile         = "model.safetensors"
	TokenizerFile       = "tokenizer.model"
	TokenizerConfigFile = "tokenizer_config.json"
)

// IsDir reports whether path is a directory with a config.json, the test
// the CLI uses to detect the Hugging Face layout.
func IsDir(path string) bool {
	st, err := os.Stat(filepath.Join(path, ConfigFile))
	return err == nil && st.Mode().IsRegular()
}

// Load reads a Hugging Face directory of one of Families into a model whose matrices
// are stored as opt.DType.
func Load(dir string, opt model.LoadOptions) (*model.Model, error) {
	m, err := load(dir, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

func load(dir string, opt model.LoadOptions) (*model.Model, error) {
	cb, err := safefile.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	hc, err := ParseConfig(cb)
	if err != nil {
		return nil, err
	}
	mc, err := hc.ModelConfig()
	if err != nil {
		return nil, err
	}
	st, err := readWeights(dir)
	if err != nil {
		return nil, err
	}
	b := binder{f: st, dt: opt.DType, used: map[string]bool{}}
	// The embedding in the file bounds vocab_size before the vocabulary
	// is padded to it (a tiny config.json must not allocate gigabytes).
	if b.tensor(model.TokenEmbd.HFName(-1), mc.Vocab, mc.Dim); b.err != nil {
		return nil, b.err
	}
	vocab, err := readVocab(dir, hc, mc.Vocab)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.New(vocab)
	if err != nil {
		return nil, fmt.Errorf("hf: tokenizer.model: %w", err)
	}

	// Tied when config.json says so, or when it does not say and there is
	// no lm_head (transformers then ties as well).
	_, hasHead := st.Tensor("lm_head.weight")
	mc.Tied = hc.TieWordEmbeddings != nil && *hc.TieWordEmbeddings
	if hc.TieWordEmbeddings == nil && !hasHead {
		mc.Tied = true
	}
	if !mc.Tied && !hasHead {
		return nil, errors.New("hf: lm_head.weight is missing and tie_word_embeddings is false")
	}

	m := &model.Model{Config: mc, Tok: tok, Meta: tokenizerMeta(vocab), Blocks: make([]model.Layer, mc.Layers), SourceStorage: tensor.F16}
	if e, ok := st.Tensor("model.embed_tokens.weight"); ok && e.DType == "F32" {
		m.SourceStorage = tensor.F32 // BF16 and F16 checkpoints become F16
	}
	for _, r := range m.Tensors() {
		if r.Kind.Info().HF == "" {
			continue // derived from config.json below
		}
		l := max(r.Layer, 0)
		rows, cols := r.Kind.Info().Shape(&m.Config, l)
		heads := mc.HFPermutedHeads(r.Kind, l)
		if r.Mat != nil {
			*r.Mat = b.matrix(r.Kind.HFName(l), rows, cols, heads, mc.HeadDim)
		} else {
			*r.Vec = b.vector(r.Kind.HFName(l), rows, heads, mc.HeadDim)
		}
	}
	if mc.RopeScaling.Type == "llama3" {
		m.RopeFreqs = mc.Llama3RopeFactors()
	}
	if mc.Tied {
		m.Output = m.Embed
		b.used[model.Output.HFName(-1)] = true // transformers ignores a stored lm_head when tied
	}
	if b.err != nil {
		return nil, b.err
	}
	for _, t := range st.Tensors {
		if !b.used[t.Name] && !isRotaryBuffer(t.Name) {
			return nil, fmt.Errorf("hf: tensor %s is not part of a %s model with this config", t.Name, mc.Arch)
		}
	}
	return m, nil
}

// ggufType is the GGUF type with the same encoding as a safetensors dtype.
var ggufType = map[string]gguf.TensorType{safetensors.F32: gguf.F32, safetensors.F16: gguf.F16, safetensors.BF16: gguf.BF16}

// isRotaryBuffer matches the inv_freq buffers old checkpoints saved,
// model.layers.N.self_attn.rotary_emb.inv_freq (no regexp: the package
// is linked into the wasm guest, where regexp's initialisation costs
// ~100 KB).
func isRotaryBuffer(name string) bool {
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return false
	}
	n, rest, ok := strings.Cut(rest, ".")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return false
	}
	return rest == "self_attn.rotary_emb.inv_freq"
}

// readWeights opens model.safetensors or the sharded index.
func readWeights(dir string) (*safetensors.File, error) {
	single := filepath.Join(dir, WeightsFile)
	index := filepath.Join(dir, safetensors.IndexName)
	if _, err := os.Stat(single); err == nil {
		return safetensors.Read(single)
	}
	if _, err := os.Stat(index); err == nil {
		return safetensors.ReadIndex(index)
	}
	for _, other := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, other)); err == nil {
			return nil, fmt.Errorf("hf: %s is a PyTorch pickle checkpoint; Shear reads safetensors only (%s)", other, WeightsFile)
		}
	}
	return nil, fmt.Errorf("hf: neither %s nor %s is present", WeightsFile, safetensors.IndexName)
}

// readVocab reads tokenizer.model, pads it with unused tokens up to the
// embedding's row count (as llama.cpp's converter does), takes BOS/EOS
// from config.json where it names them and add_bos_token/add_eos_token
// from tokenizer_config.json.
func readVocab(dir string, hc *Config, n int) (tokenizer.Vocab, error) {
	path := filepath.Join(dir, TokenizerFile)
	sp, err := sentencepiece.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No SentencePiece model: a byte-level BPE tokenizer.json, as
			// llama.cpp's converter falls back to (Llama-3, Qwen2/3).
			if _, jerr := os.Stat(filepath.Join(dir, tokenizer.HFTokenizerFile)); jerr == nil {
				return tokenizer.FromHFDir(dir, n)
			}
			return tokenizer.Vocab{}, fmt.Errorf("hf: %s is missing (and there is no %s)", TokenizerFile, tokenizer.HFTokenizerFile)
		}
		return tokenizer.Vocab{}, err
	}
	v, err := sp.ToVocab()
	if err != nil {
		return v, err
	}
	if len(v.Tokens) > n {
		return v, fmt.Errorf("hf: tokenizer.model has %d pieces but vocab_size is %d", len(v.Tokens), n)
	}
	for i := len(v.Tokens); i < n; i++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", i))
		v.Scores = append(v.Scores, 0)
		v.Types = append(v.Types, tokenizer.TypeUnused)
	}
	for _, s := range []struct {
		raw []byte
		key string
		id  *int
	}{{hc.BOSTokenID, "bos_token_id", &v.BOS}, {hc.EOSTokenID, "eos_token_id", &v.EOS}} {
		id, err := tokenID(s.raw, s.key)
		if err != nil {
			return v, err
		}
		if id >= n {
			return v, fmt.Errorf("hf: config.json %s = %d is outside the vocabulary of %d", s.key, id, n)
		}
		if id >= 0 {
			*s.id = id
		}
	}
	v.AddBOS = v.BOS >= 0
	tc, err := os.ReadFile(filepath.Join(dir, TokenizerConfigFile))
	switch {
	case err == nil:
		if err := tokenizer.HFAddFlags(&v, tc); err != nil {
			return v, fmt.Errorf("hf: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return v, fmt.Errorf("hf: %w", err)
	}
	return v, nil
}

// tokenizerMeta is the GGUF tokenizer metadata of a vocabulary, carried in
// Model.Meta so that Save/GGUF write it as llama.cpp's converter would.
func tokenizerMeta(v tokenizer.Vocab) []gguf.KV { return v.GGUFKeys() }

// binder loads tensors by name, checks their shapes and converts them;
// the first error sticks.
type binder struct {
	f    *safetensors.File
	dt   tensor.DType
	used map[string]bool
	err  error
}

func (b *binder) tensor(name string, shape ...int) *safetensors.Tensor {
	if b.err != nil {
		return nil
	}
	t, ok := b.f.Tensor(name)
	if !ok {
		b.err = fmt.Errorf("hf: tensor %s is missing", name)
		return nil
	}
	if !slices.Equal(t.Shape, shape) {
		b.err = fmt.Errorf("hf: tensor %s has shape %v, the config needs %v", name, t.Shape, shape)
		return nil
	}
	if err := tensor.CheckFinite(name, ggufType[t.DType], t.Data); err != nil {
		b.err = fmt.Errorf("hf: %w", err)
		return nil
	}
	b.used[name] = true
	return t
}

// matrix loads a rows × cols weight. With heads > 0 its rows are a q or k
// projection, permuted from HF's rotate-half order to GGUF's pairs.
func (b *binder) matrix(name string, rows, cols, heads, hd int) *tensor.Matrix {
	t := b.tensor(name, rows, cols)
	if t == nil {
		return nil
	}
	data := t.Data
	if heads > 0 {
		data = model.PermuteRopeRows(data, heads, hd, cols*safetensors.ElemSize(t.DType), true)
	}
	m := &tensor.Matrix{Rows: rows, Cols: cols}
	switch {
	case t.DType == safetensors.F16 && b.dt == tensor.F16:
		m.DType, m.F16 = tensor.F16, make([]uint16, rows*cols)
		for i := range m.F16 {
			m.F16[i] = binary.LittleEndian.Uint16(data[2*i:])
		}
		return m
	case t.DType == safetensors.F32 && b.dt == tensor.F32:
		m.DType, m.F32 = tensor.F32, make([]float32, rows*cols)
		for i := range m.F32 {
			m.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return m
	}
	v := b.floats(name, t.DType, t.Shape, data)
	if v == nil {
		return nil
	}
	dt := b.dt
	if (dt == tensor.Q8_0 || dt == tensor.Q4_0) && cols%quant.BlockSize != 0 {
		dt = tensor.F16 // as tensor.FromGGUF and llama.cpp do for rows that are not whole blocks
	}
	m, err := tensor.New(rows, cols, v, dt)
	if err != nil {
		b.err = fmt.Errorf("hf: tensor %s: %w", name, err)
	}
	return m
}

// vector loads an n-vector; with heads > 0 it is a q or k bias, permuted
// as its projection's rows are.
func (b *binder) vector(name string, n, heads, hd int) []float32 {
	t := b.tensor(name, n)
	if t == nil {
		return nil
	}
	data := t.Data
	if heads > 0 {
		data = model.PermuteRopeRows(data, heads, hd, safetensors.ElemSize(t.DType), true)
	}
	return b.floats(name, t.DType, t.Shape, data)
}

func (b *binder) floats(name, dtype string, shape []int, data []byte) []float32 {
	t := safetensors.Tensor{Name: name, DType: dtype, Shape: shape, Data: data}
	v, err := t.Float32()
	if err != nil {
		b.err = err
		return nil
	}
	return v
}
