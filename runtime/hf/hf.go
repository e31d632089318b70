package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"

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

// Load reads a Hugging Face LLaMA directory into a model whose matrices
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
	if b.tensor("model.embed_tokens.weight", mc.Vocab, mc.Dim); b.err != nil {
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

	m := &model.Model{Config: mc, Tok: tok, Meta: tokenizerMeta(vocab)}
	d, hd := mc.Dim, mc.HeadDim
	m.Embed = b.matrix("model.embed_tokens.weight", mc.Vocab, d, 0, 0)
	m.OutNorm = b.vector("model.norm.weight", d)
	if mc.Tied {
		m.Output = m.Embed
		b.used["lm_head.weight"] = true // transformers ignores a stored lm_head when tied
	} else {
		m.Output = b.matrix("lm_head.weight", mc.Vocab, d, 0, 0)
	}
	m.Blocks = make([]model.Layer, mc.Layers)
	for l := range m.Blocks {
		L := &m.Blocks[l]
		p := fmt.Sprintf("model.layers.%d.", l)
		H, KV, ff := mc.Heads[l], mc.KVHeads[l], mc.FFN[l]
		if H > 0 {
			L.AttnNorm = b.vector(p+"input_layernorm.weight", d)
			L.Wq = b.matrix(p+"self_attn.q_proj.weight", H*hd, d, H, hd)
			L.Wk = b.matrix(p+"self_attn.k_proj.weight", KV*hd, d, KV, hd)
			L.Wv = b.matrix(p+"self_attn.v_proj.weight", KV*hd, d, 0, 0)
			L.Wo = b.matrix(p+"self_attn.o_proj.weight", d, H*hd, 0, 0)
		}
		if ff > 0 {
			L.FFNNorm = b.vector(p+"post_attention_layernorm.weight", d)
			L.Wgate = b.matrix(p+"mlp.gate_proj.weight", ff, d, 0, 0)
			L.Wup = b.matrix(p+"mlp.up_proj.weight", ff, d, 0, 0)
			L.Wdown = b.matrix(p+"mlp.down_proj.weight", d, ff, 0, 0)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	for _, t := range st.Tensors {
		if !b.used[t.Name] && !rotaryBuffer.MatchString(t.Name) {
			return nil, fmt.Errorf("hf: tensor %s is not part of a LLaMA model with this config (biases and other extras are not supported)", t.Name)
		}
	}
	return m, nil
}

// ggufType is the GGUF type with the same encoding as a safetensors dtype.
var ggufType = map[string]gguf.TensorType{safetensors.F32: gguf.F32, safetensors.F16: gguf.F16, safetensors.BF16: gguf.BF16}

// rotaryBuffer matches the inv_freq buffers old checkpoints saved.
var rotaryBuffer = regexp.MustCompile(`^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$`)

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
// embedding's row count (as llama.cpp's converter does), and takes BOS/EOS
// from config.json where it names them.
func readVocab(dir string, hc *Config, n int) (tokenizer.Vocab, error) {
	path := filepath.Join(dir, TokenizerFile)
	sp, err := sentencepiece.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return tokenizer.Vocab{}, fmt.Errorf("hf: %s is missing (tokenizers given only as tokenizer.json are not supported)", TokenizerFile)
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
	return v, nil
}

// tokenizerMeta is the GGUF tokenizer metadata of a vocabulary, carried in
// Model.Meta so that Save/GGUF write it as llama.cpp's converter would.
func tokenizerMeta(v tokenizer.Vocab) []gguf.KV {
	kv := []gguf.KV{
		{Key: "tokenizer.ggml.model", Type: gguf.TypeString, Value: "llama"},
		{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, ArrayType: gguf.TypeString, Value: slices.Clone(v.Tokens)},
		{Key: "tokenizer.ggml.scores", Type: gguf.TypeArray, ArrayType: gguf.TypeFloat32, Value: slices.Clone(v.Scores)},
		{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, ArrayType: gguf.TypeInt32, Value: slices.Clone(v.Types)},
	}
	for _, s := range []struct {
		key string
		id  int
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}} {
		if s.id >= 0 {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml." + s.key + "_token_id", Type: gguf.TypeUint32, Value: uint32(s.id)})
		}
	}
	return append(kv,
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Type: gguf.TypeBool, Value: v.AddBOS},
		gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Type: gguf.TypeBool, Value: v.AddSpacePrefix})
}

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
		data = permuteRows(data, heads, hd, cols*safetensors.ElemSize(t.DType), true)
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

func (b *binder) vector(name string, n int) []float32 {
	t := b.tensor(name, n)
	if t == nil {
		return nil
	}
	return b.floats(name, t.DType, t.Shape, t.Data)
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

// permuteRows reorders the rows of a q or k projection between HF's
// rotate-half layout and GGUF's adjacent pairs, head by head (llama.cpp's
// LlamaModel.permute: reshape(heads, 2, hd/2, …).swapaxes(1, 2)). GGUF row
// h·hd + 2i + j holds HF row h·hd + j·hd/2 + i. toGGUF picks the direction.
func permuteRows(data []byte, heads, hd, rowBytes int, toGGUF bool) []byte {
	out := make([]byte, len(data))
	half := hd / 2
	for h := range heads {
		for i := range half {
			for j := range 2 {
				g, f := h*hd+2*i+j, h*hd+j*half+i
				src, dst := f, g
				if !toGGUF {
					src, dst = g, f
				}
				copy(out[dst*rowBytes:(dst+1)*rowBytes], data[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	return out
}
