package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/shear-ai/shear/runtime/model"
)

// Config is the part of a config.json that Shear reads, for the families
// of Families. Pointer fields are optional in the file.
type Config struct {
	Architectures         []string        `json:"architectures,omitempty"`
	ModelType             string          `json:"model_type,omitempty"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads,omitempty"`
	HeadDim               *int            `json:"head_dim,omitempty"`
	RMSNormEps            *json.Number    `json:"rms_norm_eps,omitempty"`
	RopeTheta             *json.Number    `json:"rope_theta,omitempty"`
	VocabSize             int             `json:"vocab_size"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings,omitempty"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings,omitempty"`
	TorchDType            string          `json:"torch_dtype,omitempty"`
	BOSTokenID            json.RawMessage `json:"bos_token_id,omitempty"` // an int, a list of ints or null
	EOSTokenID            json.RawMessage `json:"eos_token_id,omitempty"`
	HiddenAct             string          `json:"hidden_act,omitempty"`
	AttentionBias         bool            `json:"attention_bias,omitempty"`
	MLPBias               bool            `json:"mlp_bias,omitempty"`
	RopeScaling           json.RawMessage `json:"rope_scaling,omitempty"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor,omitempty"`
	UseSlidingWindow      *bool           `json:"use_sliding_window,omitempty"` // Qwen2/3
	LayerWidths           *LayerWidths    `json:"shear_layer_widths,omitempty"`
}

// LayerWidths is Shear's extension for models whose layers differ in width.
type LayerWidths struct {
	NumAttentionHeads []int `json:"num_attention_heads"`
	NumKeyValueHeads  []int `json:"num_key_value_heads"`
	IntermediateSize  []int `json:"intermediate_size"`
}

// Family is one Hugging Face model family Shear reads and writes.
type Family struct {
	ModelType    string // config.json model_type
	Architecture string // config.json architectures[0]
	Arch         string // Shear's (and GGUF's) architecture
}

// Families maps each supported model_type to its family. Mistral is a
// llama with another name (llama.cpp converts it to arch llama; its
// sliding window, like llama.cpp, is not applied).
var Families = []Family{
	{"llama", "LlamaForCausalLM", "llama"},
	{"mistral", "MistralForCausalLM", "llama"},
	{"qwen2", "Qwen2ForCausalLM", "qwen2"},
	{"qwen3", "Qwen3ForCausalLM", "qwen3"},
}

// family finds the config's family by model_type, else by architecture.
func (c *Config) family() (Family, error) {
	for _, f := range Families {
		if c.ModelType == f.ModelType || (c.ModelType == "" && slices.Contains(c.Architectures, f.Architecture)) {
			return f, nil
		}
	}
	var names []string
	for _, f := range Families {
		names = append(names, f.ModelType)
	}
	if c.ModelType != "" {
		return Family{}, fmt.Errorf("hf: config.json model_type %q is not supported (Shear reads %v)", c.ModelType, names)
	}
	return Family{}, fmt.Errorf("hf: config.json has no model_type and no supported architecture (architectures %v; Shear reads %v)", c.Architectures, names)
}

// ParseConfig decodes and checks config.json.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("hf: config.json is not a valid model config: %v", err)
	}
	fam, err := c.family()
	if err != nil {
		return nil, err
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return nil, fmt.Errorf("hf: hidden_act %q is not supported (these families use silu)", c.HiddenAct)
	}
	if c.AttentionBias {
		// Llama's and Qwen3's attention_bias also biases o_proj, which no
		// GGUF architecture Shear writes carries. (Qwen2's q/k/v biases are
		// not switched by it: they are always there.)
		return nil, fmt.Errorf("hf: attention_bias (biases on q, k, v and o_proj) is not supported for model_type %s", fam.ModelType)
	}
	if c.MLPBias {
		return nil, fmt.Errorf("hf: mlp_bias is not supported")
	}
	if c.UseSlidingWindow != nil && *c.UseSlidingWindow {
		return nil, fmt.Errorf("hf: use_sliding_window is not supported")
	}
	if _, err := c.ropeScaling(); err != nil {
		return nil, err
	}
	if c.PartialRotaryFactor != nil && *c.PartialRotaryFactor != 1 {
		return nil, fmt.Errorf("hf: partial_rotary_factor %v is not supported", *c.PartialRotaryFactor)
	}
	return &c, nil
}

// tokenID reads bos_token_id / eos_token_id: an int, the first of a list,
// or absent/null (-1).
func tokenID(raw json.RawMessage, key string) (int, error) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || string(s) == "null" {
		return -1, nil
	}
	var one int
	if err := json.Unmarshal(s, &one); err == nil {
		return one, nil
	}
	var list []int
	if err := json.Unmarshal(s, &list); err == nil && len(list) > 0 {
		return list[0], nil
	}
	return 0, fmt.Errorf("hf: config.json %s = %s is not a token id", key, s)
}

func number(n *json.Number, def float64, key string) (float32, error) {
	if n == nil {
		return float32(def), nil
	}
	v, err := n.Float64()
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("hf: config.json %s = %s is not a positive number", key, n)
	}
	return float32(v), nil
}

// ropeScaling reads rope_scaling (null, default, linear or llama3).
func (c *Config) ropeScaling() (model.RopeScaling, error) {
	var r model.RopeScaling
	raw := bytes.TrimSpace(c.RopeScaling)
	if len(raw) == 0 || string(raw) == "null" {
		return r, nil
	}
	var rs struct {
		RopeType       string       `json:"rope_type"`
		Type           string       `json:"type"` // the older key
		Factor         *json.Number `json:"factor"`
		LowFreqFactor  *json.Number `json:"low_freq_factor"`
		HighFreqFactor *json.Number `json:"high_freq_factor"`
		OrigCtx        int          `json:"original_max_position_embeddings"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rs); err != nil {
		return r, fmt.Errorf("hf: config.json rope_scaling %s is not an object: %v", raw, err)
	}
	typ := rs.RopeType
	if typ == "" {
		typ = rs.Type
	}
	num := func(n *json.Number, key string) (float32, error) {
		if n == nil {
			return 0, fmt.Errorf("hf: config.json rope_scaling of type %s needs %s", typ, key)
		}
		return number(n, 0, "rope_scaling."+key)
	}
	var err error
	switch typ {
	case "default":
		return r, nil
	case "linear":
		r.Type = "linear"
		r.Factor, err = num(rs.Factor, "factor")
	case "llama3":
		r = model.RopeScaling{Type: "llama3", OrigCtx: rs.OrigCtx}
		if r.Factor, err = num(rs.Factor, "factor"); err != nil {
			return r, err
		}
		if r.LowFreqFactor, err = num(rs.LowFreqFactor, "low_freq_factor"); err != nil {
			return r, err
		}
		r.HighFreqFactor, err = num(rs.HighFreqFactor, "high_freq_factor")
	default:
		return r, fmt.Errorf("hf: config.json rope_scaling type %q is not supported (Shear runs default, linear and llama3)", typ)
	}
	if err != nil {
		return r, err
	}
	return r, r.Validate()
}

// ModelConfig converts the HF config to Shear's.
func (c *Config) ModelConfig() (model.Config, error) {
	fam, err := c.family()
	if err != nil {
		return model.Config{}, err
	}
	mc := model.Config{Arch: fam.Arch, QKVBias: fam.Arch == "qwen2", QKNorm: fam.Arch == "qwen3", Dim: c.HiddenSize, Layers: c.NumHiddenLayers, Vocab: c.VocabSize,
		CtxLen: c.MaxPositionEmbeddings, Gated: true}
	if c.HiddenSize <= 0 || c.NumHiddenLayers <= 0 || c.NumAttentionHeads <= 0 || c.VocabSize <= 0 || c.IntermediateSize < 0 {
		return mc, fmt.Errorf("hf: config.json needs positive hidden_size, num_hidden_layers, num_attention_heads and vocab_size (have %d, %d, %d, %d)",
			c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.VocabSize)
	}
	if c.NumHiddenLayers > 4096 || c.HiddenSize > 1<<20 || c.VocabSize > 1<<24 || c.IntermediateSize > 1<<24 || c.NumAttentionHeads > 1<<16 {
		return mc, fmt.Errorf("hf: config.json sizes are out of range")
	}
	kv := c.NumAttentionHeads
	if c.NumKeyValueHeads != nil {
		kv = *c.NumKeyValueHeads
	}
	mc.HeadDim = c.HiddenSize / c.NumAttentionHeads
	if c.HeadDim != nil {
		mc.HeadDim = *c.HeadDim
	}
	mc.RopeDim = mc.HeadDim
	if mc.RopeScaling, err = c.ropeScaling(); err != nil {
		return mc, err
	}
	if mc.NormEps, err = number(c.RMSNormEps, 1e-6, "rms_norm_eps"); err != nil { // LlamaConfig's default
		return mc, err
	}
	if mc.RopeBase, err = number(c.RopeTheta, 10000, "rope_theta"); err != nil {
		return mc, err
	}
	if c.TieWordEmbeddings != nil {
		mc.Tied = *c.TieWordEmbeddings
	}
	mc.Heads, mc.KVHeads, mc.FFN = make([]int, mc.Layers), make([]int, mc.Layers), make([]int, mc.Layers)
	for l := range mc.Layers {
		mc.Heads[l], mc.KVHeads[l], mc.FFN[l] = c.NumAttentionHeads, kv, c.IntermediateSize
	}
	if w := c.LayerWidths; w != nil {
		if len(w.NumAttentionHeads) != mc.Layers || len(w.NumKeyValueHeads) != mc.Layers || len(w.IntermediateSize) != mc.Layers {
			return mc, fmt.Errorf("hf: shear_layer_widths needs %d entries per list (has %d, %d, %d)", mc.Layers,
				len(w.NumAttentionHeads), len(w.NumKeyValueHeads), len(w.IntermediateSize))
		}
		for l := range mc.Layers {
			if w.NumAttentionHeads[l] > 1<<16 || w.NumKeyValueHeads[l] > 1<<16 || w.IntermediateSize[l] > 1<<24 {
				return mc, fmt.Errorf("hf: shear_layer_widths of layer %d are out of range", l)
			}
		}
		copy(mc.Heads, w.NumAttentionHeads)
		copy(mc.KVHeads, w.NumKeyValueHeads)
		copy(mc.FFN, w.IntermediateSize)
		if !mc.Uniform() && mc.Arch == "llama" {
			mc.Arch = "deci"
		}
	}
	if err := mc.Validate(); err != nil {
		return mc, fmt.Errorf("hf: config.json: %w", err)
	}
	return mc, nil
}

// fromModelConfig builds config.json for a Shear config.
func fromModelConfig(mc *model.Config, bos, eos int, dtype string) ([]byte, error) {
	fam := Families[0] // llama and deci
	for _, f := range Families {
		// A deci model with q/k/v biases is a pruned Qwen2 as Shear writes
		// it to GGUF (model.GGUF): Qwen2ForCausalLM with per-layer widths.
		if f.Arch == mc.Arch && mc.Arch != "llama" || mc.Arch == "deci" && mc.QKVBias && f.Arch == "qwen2" {
			fam = f
		}
	}
	switch {
	case !mc.Gated:
		return nil, fmt.Errorf("hf: the model's MLP has no gate; %s needs gate_proj", fam.Architecture)
	case mc.QKVBias != (fam.Arch == "qwen2"):
		return nil, fmt.Errorf("hf: %s has q/k/v biases exactly when it is Qwen2 (this %s model: biases %v)", fam.Architecture, mc.Arch, mc.QKVBias)
	case mc.OutBias:
		// transformers has one flag for all attention biases and one for all
		// MLP biases; writing zero q/k/v and gate/up biases to carry o_proj's
		// and down_proj's would give a file Shear cannot read back (it has no
		// gate/up biases), so the export is refused rather than half-done.
		return nil, fmt.Errorf("hf: the model has o_proj and down_proj biases (FLAP's bias compensation); %s carries them only with attention_bias and mlp_bias, which also bias q/k/v and gate/up: write GGUF instead", fam.Architecture)
	case mc.QKNorm != (fam.Arch == "qwen3"):
		return nil, fmt.Errorf("hf: %s has q/k norms exactly when it is Qwen3 (this %s model: q/k norms %v)", fam.Architecture, mc.Arch, mc.QKNorm)
	case mc.RopeDim != mc.HeadDim:
		return nil, fmt.Errorf("hf: RoPE covers %d of %d head dimensions; LlamaForCausalLM rotates whole heads", mc.RopeDim, mc.HeadDim)
	case mc.HeadDim%2 != 0:
		return nil, fmt.Errorf("hf: head dimension %d is odd", mc.HeadDim)
	}
	var ropeScaling any
	switch r := mc.RopeScaling; r.Type {
	case "linear":
		ropeScaling = map[string]any{"rope_type": "linear", "factor": shortFloat(r.Factor)}
	case "llama3":
		if r.Factor == 0 {
			return nil, fmt.Errorf("hf: the model has llama3 rope scaling known only by its rope_freqs factors; config.json needs factor, low/high_freq_factor and original_max_position_embeddings")
		}
		ropeScaling = map[string]any{"rope_type": "llama3", "factor": shortFloat(r.Factor), "low_freq_factor": shortFloat(r.LowFreqFactor),
			"high_freq_factor": shortFloat(r.HighFreqFactor), "original_max_position_embeddings": r.OrigCtx}
	}
	maxOf := func(v []int) int { return slices.Max(v) }
	heads, kv, ffn := maxOf(mc.Heads), maxOf(mc.KVHeads), maxOf(mc.FFN)
	if heads == 0 {
		return nil, fmt.Errorf("hf: the model has no attention heads in any layer")
	}
	torch := map[string]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
	// An ordered object, so config.json reads like the ones transformers writes.
	type kvp struct {
		k string
		v any
	}
	fields := []kvp{
		{"architectures", []string{fam.Architecture}},
		{"model_type", fam.ModelType},
		{"hidden_size", mc.Dim},
		{"intermediate_size", ffn},
		{"num_hidden_layers", mc.Layers},
		{"num_attention_heads", heads},
		{"num_key_value_heads", kv},
		{"head_dim", mc.HeadDim},
		{"hidden_act", "silu"},
		{"rms_norm_eps", shortFloat(mc.NormEps)},
		{"rope_theta", shortFloat(mc.RopeBase)},
		{"rope_scaling", ropeScaling},
		{"attention_bias", false},
		{"mlp_bias", false},
		{"vocab_size", mc.Vocab},
		{"max_position_embeddings", mc.CtxLen},
		{"tie_word_embeddings", mc.Tied},
		{"torch_dtype", torch},
		{"initializer_range", 0.02},
		{"use_cache", true},
	}
	if bos >= 0 {
		fields = append(fields, kvp{"bos_token_id", bos})
	}
	if eos >= 0 {
		fields = append(fields, kvp{"eos_token_id", eos})
	}
	if !mc.Uniform() {
		fields = append(fields, kvp{"shear_layer_widths", LayerWidths{mc.Heads, mc.KVHeads, mc.FFN}})
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, f := range fields {
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		k, _ := json.Marshal(f.k)
		fmt.Fprintf(&b, "  %s: %s", k, v)
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// shortFloat writes a float32 with the fewest digits that read back to it
// (1e-05, not 9.999999747378752e-06).
func shortFloat(x float32) json.Number {
	return json.Number(strconv.FormatFloat(float64(x), 'g', -1, 32))
}
