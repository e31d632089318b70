package model

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tensor"
)

// GGUF builds the model as a GGUF file. Uniform llama-family models are
// written as arch "llama"; those whose layers differ in width as arch
// "deci" with per-layer arrays (llama.cpp runs both). Qwen models keep
// their arch, with per-layer arrays when pruned (docs/FORMATS.md says
// which of these llama.cpp runs). Metadata of the source file (tokenizer,
// names) is carried over; the shape keys are rewritten. The builder views
// the model's weights rather than copying them (writing a model takes no
// second model's memory): write it before the model changes.
func (m *Model) GGUF() (*gguf.Builder, error) {
	c := &m.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := gguf.NewBuilder()
	arch := c.Arch
	// llama.cpp's qwen2 takes every layer's widths from layer 0; its deci
	// runs per-layer widths and q/k/v biases with adjacent-pair RoPE, which
	// computes NeoX RoPE when the q and k rows are permuted (docs/FORMATS.md).
	// Its qwen2 has no Wo or Wdown biases either (llama and deci load them).
	toPairs := arch == "qwen2" && (!c.Uniform() || c.OutBias)
	if toPairs && c.RopeDim != c.HeadDim {
		return nil, fmt.Errorf("model: a pruned qwen2 model is written as deci, which needs RoPE over whole heads (rope dimension %d, head %d)", c.RopeDim, c.HeadDim)
	}
	if arch == "llama" || arch == "deci" || toPairs {
		arch = "llama"
		if !c.Uniform() {
			arch = "deci"
		}
	}
	b.Set("general.architecture", arch)
	hasTokenizer := false
	for _, kv := range m.Meta {
		k := kv.Key
		switch {
		case k == "general.architecture", k == "general.alignment", k == "general.file_type":
			continue
		case strings.HasPrefix(k, ggufScalingPrefix):
			continue
		case archKey(k):
			continue
		case strings.HasPrefix(k, "tokenizer."):
			hasTokenizer = true
		}
		b.SetKV(kv)
	}
	if !hasTokenizer && m.Tok != nil {
		v := m.Tok.Vocab()
		for _, kv := range v.GGUFKeys() {
			b.SetKV(kv)
		}
	}
	p := arch + "."
	if c.CtxLen > 0 {
		b.Set(p+"context_length", uint32(c.CtxLen))
	}
	b.Set(p+"embedding_length", uint32(c.Dim))
	b.Set(p+"block_count", uint32(c.Layers))
	if c.Uniform() {
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
	switch r := &c.RopeScaling; r.Type {
	case "linear":
		b.Set(p+"rope.scaling.type", "linear")
		b.Set(p+"rope.scaling.factor", r.Factor)
	case "llama3":
		if r.Factor > 0 { // llama.cpp reads the rope_freqs tensor; these keys are for a Hugging Face export
			b.Set(ggufScalingPrefix+"type", "llama3")
			b.Set(ggufScalingPrefix+"factor", r.Factor)
			b.Set(ggufScalingPrefix+"low_freq_factor", r.LowFreqFactor)
			b.Set(ggufScalingPrefix+"high_freq_factor", r.HighFreqFactor)
			b.Set(ggufScalingPrefix+"original_context_length", uint32(r.OrigCtx))
		}
	}
	b.Set(p+"attention.layer_norm_rms_epsilon", c.NormEps)
	b.Set(p+"vocab_size", uint32(c.Vocab))
	b.Set("general.file_type", fileType(m.Embed.DType))

	var err error
	mat := func(name string, w *tensor.Matrix) {
		if err == nil && w != nil {
			err = b.AddTensor(name, w.DType.GGUFType(), []uint64{uint64(w.Cols), uint64(w.Rows)}, w.View())
		}
	}
	vec := func(name string, v []float32) {
		if err == nil && v != nil {
			err = b.AddTensor(name, gguf.F32, []uint64{uint64(len(v))}, tensor.EncodeFloat32(v))
		}
	}
	for _, r := range m.Tensors() {
		heads := 0
		if in := r.Kind.Info(); toPairs && in.RopeHeads != nil {
			heads = in.RopeHeads(c, r.Layer)
		}
		switch {
		case heads > 0 && err == nil:
			var data []byte
			var typ gguf.TensorType
			var dims []uint64
			if r.Mat != nil {
				w := *r.Mat
				data, typ, dims = w.View(), w.DType.GGUFType(), []uint64{uint64(w.Cols), uint64(w.Rows)}
			} else {
				data, typ, dims = tensor.EncodeFloat32(*r.Vec), gguf.F32, []uint64{uint64(len(*r.Vec))}
			}
			rows := int(dims[len(dims)-1])
			err = b.AddTensor(r.Name, typ, dims, PermuteRopeRows(data, heads, c.HeadDim, len(data)/rows, true))
		case r.Mat != nil:
			mat(r.Name, *r.Mat)
		default:
			vec(r.Name, *r.Vec)
		}
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

// archKey reports whether a metadata key belongs to one of the
// architectures Shear writes (their shape keys are rewritten).
func archKey(k string) bool {
	for _, a := range Archs {
		if strings.HasPrefix(k, a+".") {
			return true
		}
	}
	return false
}
