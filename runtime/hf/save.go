package hf

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/safetensors"
	"github.com/shear-ai/shear/runtime/sentencepiece"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// SaveOptions control how a model is written.
type SaveOptions struct {
	// DType of the matrices: "F32", "F16" or "BF16". Empty picks F32 when
	// every matrix is float32 and F16 otherwise.
	DType string
	// ShardBytes > 0 splits the weights into shards of at most that many
	// bytes with a model.safetensors.index.json; 0 writes one file.
	ShardBytes int64
}

// Save writes m as a Hugging Face directory. dir must not exist or be an
// empty directory. Everything is written into a temporary directory beside
// it that is renamed to dir only when complete, so an error leaves nothing.
func Save(m *model.Model, dir string, opt SaveOptions) error {
	exists := false
	if st, err := os.Stat(dir); err == nil {
		exists = true
		if !st.IsDir() {
			return fmt.Errorf("hf: %s exists and is not a directory", dir)
		}
		if e, err := os.ReadDir(dir); err != nil || len(e) > 0 {
			return fmt.Errorf("hf: output directory %s exists and is not empty", dir)
		}
	}
	files, err := Files(m, opt)
	if err != nil {
		return err
	}
	parent, base := filepath.Split(filepath.Clean(dir))
	if parent == "" {
		parent = "."
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	for name, b := range files.Other {
		if err := writeFile(filepath.Join(tmp, name), b); err != nil {
			return err
		}
	}
	if opt.ShardBytes > 0 {
		_, err = safetensors.WriteSharded(tmp, files.Tensors, files.Metadata, opt.ShardBytes)
	} else {
		err = safetensors.Write(filepath.Join(tmp, WeightsFile), files.Tensors, files.Metadata)
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return err
	}
	if exists {
		// os.Rename will not replace a directory, even an empty one.
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("hf: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	ok = true
	return nil
}

func writeFile(path string, b []byte) error {
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Contents is what Save writes: the weight tensors (HF names and row
// order) with their safetensors metadata, and the other files by name.
type Contents struct {
	Tensors  []safetensors.Tensor
	Metadata map[string]string
	Other    map[string][]byte // config.json, tokenizer.model or tokenizer.json, tokenizer_config.json
}

// Files builds the contents of a Hugging Face directory for m.
func Files(m *model.Model, opt SaveOptions) (*Contents, error) {
	c := &m.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dtype := opt.DType
	if dtype == "" {
		dtype = safetensors.F32
		for _, r := range m.Matrices() {
			if (*r.Mat).DType != tensor.F32 {
				dtype = safetensors.F16
			}
		}
	}
	if dtype != safetensors.F32 && dtype != safetensors.F16 && dtype != safetensors.BF16 {
		return nil, fmt.Errorf("hf: dtype %q is not one of F32, F16, BF16", dtype)
	}
	bos, eos := -1, -1
	if m.Tok != nil {
		bos, eos = m.Tok.BOS(), m.Tok.EOS()
	}
	cfg, err := fromModelConfig(c, bos, eos, dtype)
	if err != nil {
		return nil, err
	}
	out := &Contents{Metadata: map[string]string{"format": "pt"}, Other: map[string][]byte{ConfigFile: cfg}}
	if m.Tok != nil && m.Tok.Model() == tokenizer.ModelBPE {
		// Byte-level BPE: tokenizer.json, as Llama-3 and Qwen ship it.
		tj, tc, err := tokenizer.HFFiles(m.Tok.Vocab())
		if err != nil {
			return nil, err
		}
		out.Other[tokenizer.HFTokenizerFile], out.Other[TokenizerConfigFile] = tj, tc
	} else if m.Tok != nil {
		v := m.Tok.Vocab()
		sp, err := sentencepiece.FromVocab(v)
		if err != nil {
			return nil, err
		}
		out.Other[TokenizerFile] = sp.Encode()
		tc := map[string]any{
			"tokenizer_class": "LlamaTokenizer", "add_bos_token": v.AddBOS, "add_eos_token": v.AddEOS,
			"clean_up_tokenization_spaces": false, "legacy": false, "model_max_length": c.CtxLen,
			"sp_model_kwargs": map[string]any{}, "pad_token": nil,
		}
		for key, id := range map[string]int{"bos_token": v.BOS, "eos_token": v.EOS, "unk_token": v.UNK} {
			if id >= 0 {
				tc[key] = v.Tokens[id]
			}
		}
		if !v.AddSpacePrefix {
			tc["add_prefix_space"] = false
		}
		b, err := json.MarshalIndent(tc, "", "  ")
		if err != nil {
			return nil, err
		}
		out.Other[TokenizerConfigFile] = append(b, '\n')
	}

	var ferr error
	mat := func(name string, w *tensor.Matrix, heads int) {
		if ferr != nil || w == nil {
			return
		}
		var t safetensors.Tensor
		switch {
		case w.DType == tensor.F32 && dtype == safetensors.F32, w.DType == tensor.F16 && dtype == safetensors.F16:
			t = safetensors.Tensor{Name: name, DType: dtype, Shape: []int{w.Rows, w.Cols}, Data: w.Encode()}
		default:
			t, ferr = safetensors.FromFloat32(name, []int{w.Rows, w.Cols}, w.Float32(), dtype)
		}
		if heads > 0 {
			t.Data = model.PermuteRopeRows(t.Data, heads, c.HeadDim, w.Cols*safetensors.ElemSize(dtype), false)
		}
		out.Tensors = append(out.Tensors, t)
	}
	vec := func(name string, v []float32, heads int) {
		if ferr != nil || v == nil {
			return
		}
		var t safetensors.Tensor
		t, ferr = safetensors.FromFloat32(name, []int{len(v)}, v, safetensors.F32)
		if heads > 0 {
			t.Data = model.PermuteRopeRows(t.Data, heads, c.HeadDim, safetensors.ElemSize(safetensors.F32), false)
		}
		out.Tensors = append(out.Tensors, t)
	}
	for _, r := range hfOrder(m.Tensors()) {
		if r.Kind.Info().HF == "" {
			continue // config.json describes it
		}
		l := max(r.Layer, 0)
		heads := c.HFPermutedHeads(r.Kind, l)
		if r.Mat != nil {
			mat(r.Kind.HFName(l), *r.Mat, heads)
		} else {
			vec(r.Kind.HFName(l), *r.Vec, heads)
		}
	}
	if ferr != nil {
		return nil, fmt.Errorf("hf: %w", ferr)
	}
	return out, nil
}

// hfOrder puts the tensors in the order transformers writes them: the
// embedding, the layers, then the final norm and the output head.
func hfOrder(refs []model.TensorRef) []model.TensorRef {
	rank := func(r model.TensorRef) int {
		switch {
		case r.Kind == model.TokenEmbd:
			return 0
		case r.Layer >= 0:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(refs, func(a, b model.TensorRef) int { return rank(a) - rank(b) })
	return refs
}
