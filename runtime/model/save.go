package model

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tensor"
)

// archKeys are the architecture-specific metadata keys Shear writes itself.
var archKeys = []string{"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length",
	"rope.dimension_count", "rope.freq_base", "attention.layer_norm_rms_epsilon", "vocab_size"}

// GGUF builds the model as a GGUF file. Uniform models are written as arch
// "llama"; models whose layers differ in width as arch "deci" with
// per-layer arrays (llama.cpp runs both). Metadata of the source file
// (tokenizer, names) is carried over; the shape keys are rewritten.
func (m *Model) GGUF() (*gguf.Builder, error) {
	c := &m.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := gguf.NewBuilder()
	arch := "llama"
	if !c.Uniform() {
		arch = "deci"
	}
	b.Set("general.architecture", arch)
	hasTokenizer := false
	for _, kv := range m.Meta {
		k := kv.Key
		switch {
		case k == "general.architecture", k == "general.alignment", k == "general.file_type":
			continue
		case strings.HasPrefix(k, "llama."), strings.HasPrefix(k, "deci."):
			continue
		case strings.HasPrefix(k, "tokenizer."):
			hasTokenizer = true
		}
		b.SetKV(kv)
	}
	if !hasTokenizer && m.Tok != nil {
		v := m.Tok.Vocab()
		b.Set("tokenizer.ggml.model", "llama")
		b.Set("tokenizer.ggml.tokens", v.Tokens)
		b.Set("tokenizer.ggml.scores", v.Scores)
		b.Set("tokenizer.ggml.token_type", v.Types)
		for _, special := range []struct {
			key string
			id  int
		}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}} { // a fixed order: files are reproducible
			if special.id >= 0 {
				b.Set("tokenizer.ggml."+special.key+"_token_id", uint32(special.id))
			}
		}
	}
	p := arch + "."
	if c.CtxLen > 0 {
		b.Set(p+"context_length", uint32(c.CtxLen))
	}
	b.Set(p+"embedding_length", uint32(c.Dim))
	b.Set(p+"block_count", uint32(c.Layers))
	if arch == "llama" {
		b.Set(p+"feed_forward_length", uint32(c.FFN[0]))
		b.Set(p+"attention.head_count", uint32(c.Heads[0]))
		b.Set(p+"attention.head_count_kv", uint32(c.KVHeads[0]))
		if c.Heads[0] == 0 || c.Dim/c.Heads[0] != c.HeadDim {
			b.Set(p+"attention.key_length", uint32(c.HeadDim))
			b.Set(p+"attention.value_length", uint32(c.HeadDim))
		}
	} else {
		b.Set(p+"feed_forward_length", int32s(c.FFN))
		b.Set(p+"attention.head_count", int32s(c.Heads))
		b.Set(p+"attention.head_count_kv", int32s(c.KVHeads))
		// llama.cpp derives the head size from layer 0, which pruning may
		// have narrowed: always state it.
		b.Set(p+"attention.key_length", uint32(c.HeadDim))
		b.Set(p+"attention.value_length", uint32(c.HeadDim))
	}
	b.Set(p+"rope.dimension_count", uint32(c.RopeDim))
	b.Set(p+"rope.freq_base", c.RopeBase)
	b.Set(p+"attention.layer_norm_rms_epsilon", c.NormEps)
	b.Set(p+"vocab_size", uint32(c.Vocab))
	b.Set("general.file_type", fileType(m.Embed.DType))

	var err error
	mat := func(name string, w *tensor.Matrix) {
		if err == nil && w != nil {
			err = b.AddTensor(name, w.DType.GGUFType(), []uint64{uint64(w.Cols), uint64(w.Rows)}, w.Encode())
		}
	}
	vec := func(name string, v []float32) {
		if err == nil && v != nil {
			err = b.AddTensor(name, gguf.F32, []uint64{uint64(len(v))}, tensor.EncodeFloat32(v))
		}
	}
	mat("token_embd.weight", m.Embed)
	vec("output_norm.weight", m.OutNorm)
	if !m.Tied {
		mat("output.weight", m.Output)
	}
	for l := range m.Blocks {
		L := &m.Blocks[l]
		pre := fmt.Sprintf("blk.%d.", l)
		vec(pre+"attn_norm.weight", L.AttnNorm)
		mat(pre+"attn_q.weight", L.Wq)
		mat(pre+"attn_k.weight", L.Wk)
		mat(pre+"attn_v.weight", L.Wv)
		vec(pre+"attn_q.bias", L.Bq)
		vec(pre+"attn_k.bias", L.Bk)
		vec(pre+"attn_v.bias", L.Bv)
		mat(pre+"attn_output.weight", L.Wo)
		vec(pre+"ffn_norm.weight", L.FFNNorm)
		mat(pre+"ffn_gate.weight", L.Wgate)
		mat(pre+"ffn_up.weight", L.Wup)
		mat(pre+"ffn_down.weight", L.Wdown)
	}
	return b, err
}

// Encode returns the model's GGUF file as bytes (what Save writes).
func (m *Model) Encode() ([]byte, error) {
	b, err := m.GGUF()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save writes the model as GGUF to path, atomically.
func (m *Model) Save(path string) error {
	b, err := m.GGUF()
	if err != nil {
		return err
	}
	return b.WriteFile(path)
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// fileType is llama.cpp's general.file_type for a storage type.
func fileType(d tensor.DType) uint32 {
	// ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_Q4_0, MOSTLY_Q4_K_M, MOSTLY_Q5_K_M, MOSTLY_Q6_K
	return [...]uint32{0, 1, 7, 2, 15, 17, 18}[d]
}
