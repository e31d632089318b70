package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/safetensors"
	"github.com/shear-ai/shear/runtime/tensor"
)

// PEFT's on-disk names for a LoRA adapter.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// AdapterConfig is PEFT's adapter_config.json (the fields Shear reads and
// writes; PEFT ignores none of them).
type AdapterConfig struct {
	PEFTType       string   `json:"peft_type"`
	TaskType       string   `json:"task_type"`
	R              int      `json:"r"`
	LoRAAlpha      float32  `json:"lora_alpha"`
	LoRADropout    float32  `json:"lora_dropout"`
	TargetModules  []string `json:"target_modules"`
	Bias           string   `json:"bias"`
	FanInFanOut    bool     `json:"fan_in_fan_out"`
	InferenceMode  bool     `json:"inference_mode"`
	BaseModel      string   `json:"base_model_name_or_path"`
	InitLoRAWeight bool     `json:"init_lora_weights"`
}

func peftTensorName(l int, t lora.Target, part string) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", l, lora.PEFTNames[t], part)
}

// ropeRows tells whether target t's output rows are RoPE-permuted between
// GGUF and HF, and with how many heads.
func ropeRows(m *model.Model, l int, t lora.Target) (int, bool) {
	heads := m.HFPermutedHeads(t.Kind(), l)
	return heads, heads > 0
}

// SaveAdapter writes a in PEFT's layout in dir (created if needed):
// adapter_config.json and adapter_model.safetensors with tensors such as
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight, in dtype
// F16 (default) or F32. B rows of q and k are put in HF's rotate-half
// order so the adapter applies to the HF checkpoint of the same model.
func SaveAdapter(a *lora.Adapter, m *model.Model, dir, dtype, baseModel string) error {
	if dtype == "" {
		dtype = safetensors.F16
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tensors []safetensors.Tensor
	for l, mods := range a.Modules {
		for ti, mod := range mods {
			if mod == nil {
				continue
			}
			t := lora.Target(ti)
			A, err := safetensors.FromFloat32(peftTensorName(l, t, "A"), []int{mod.Rank, mod.In}, mod.A, dtype)
			if err != nil {
				return err
			}
			B, err := safetensors.FromFloat32(peftTensorName(l, t, "B"), []int{mod.Out, mod.Rank}, mod.B, dtype)
			if err != nil {
				return err
			}
			if heads, ok := ropeRows(m, l, t); ok {
				B.Data = model.PermuteRopeRows(B.Data, heads, m.HeadDim, mod.Rank*safetensors.ElemSize(dtype), false)
			}
			tensors = append(tensors, A, B)
		}
	}
	cfg := AdapterConfig{PEFTType: "LORA", TaskType: "CAUSAL_LM", R: a.Rank, LoRAAlpha: a.Alpha, LoRADropout: a.Dropout,
		Bias: "none", InferenceMode: true, BaseModel: baseModel, InitLoRAWeight: true}
	for _, t := range a.Targets {
		cfg.TargetModules = append(cfg.TargetModules, PEFTNames(t))
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, AdapterConfigFile), append(js, '\n'))
}

// PEFTNames is the short module name PEFT lists in target_modules.
func PEFTNames(t lora.Target) string {
	full := lora.PEFTNames[t]
	return full[strings.LastIndex(full, ".")+1:]
}

// LoadAdapter reads a PEFT adapter directory for model m, checking that
// every tensor fits m's matrices.
func LoadAdapter(dir string, m *model.Model) (*lora.Adapter, error) {
	raw, err := safefile.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return nil, err
	}
	var cfg AdapterConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", AdapterConfigFile, err)
	}
	if cfg.PEFTType != "LORA" {
		return nil, fmt.Errorf("%s: peft_type %q is not LORA", AdapterConfigFile, cfg.PEFTType)
	}
	targets, err := lora.ParseTargets(strings.Join(cfg.TargetModules, ","))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", AdapterConfigFile, err)
	}
	lc := lora.Config{Rank: cfg.R, Alpha: cfg.LoRAAlpha, Dropout: cfg.LoRADropout, Targets: targets}
	if err := lc.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", AdapterConfigFile, err)
	}
	f, err := safetensors.Read(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		return nil, err
	}
	a := &lora.Adapter{Config: lc, Modules: make([][lora.NumTargets]*lora.Module, len(m.Blocks))}
	found := 0
	for l := range m.Blocks {
		for _, t := range targets {
			w := t.Weight(&m.Blocks[l])
			ta, okA := f.Tensor(peftTensorName(l, t, "A"))
			tb, okB := f.Tensor(peftTensorName(l, t, "B"))
			if !okA && !okB {
				continue
			}
			if !okA || !okB || w == nil {
				return nil, fmt.Errorf("adapter: layer %d %s: incomplete pair or no such matrix in the model", l, t)
			}
			if len(ta.Shape) != 2 || ta.Shape[0] != cfg.R || ta.Shape[1] != w.Cols || len(tb.Shape) != 2 || tb.Shape[0] != w.Rows || tb.Shape[1] != cfg.R {
				return nil, fmt.Errorf("adapter: layer %d %s: lora_A %v and lora_B %v do not fit a %d×%d matrix with rank %d", l, t, ta.Shape, tb.Shape, w.Rows, w.Cols, cfg.R)
			}
			for _, t := range []*safetensors.Tensor{ta, tb} {
				if err := tensor.CheckFinite(t.Name, ggufType[t.DType], t.Data); err != nil {
					return nil, fmt.Errorf("adapter: %w", err)
				}
			}
			bt := *tb
			if heads, ok := ropeRows(m, l, t); ok {
				bt.Data = model.PermuteRopeRows(tb.Data, heads, m.HeadDim, cfg.R*safetensors.ElemSize(tb.DType), true)
			}
			A, err := ta.Float32()
			if err != nil {
				return nil, err
			}
			B, err := bt.Float32()
			if err != nil {
				return nil, err
			}
			a.Modules[l][t] = &lora.Module{In: w.Cols, Out: w.Rows, Rank: cfg.R, Scale: lc.Scale(), A: A, B: B}
			found++
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("adapter: %s holds no LoRA tensors for this model", AdapterWeightsFile)
	}
	return a, nil
}
