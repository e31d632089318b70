package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// tinyDir saves a tiny model as a Hugging Face directory and returns its
// config.json, model.safetensors and tokenizer.model bytes.
func tinyDir(f *testing.F, layers int, dtype string) (config, weights, tok []byte) {
	dir := filepath.Join(f.TempDir(), "hf")
	if err := Save(tinymodel.New(layers, tensor.F32, 1), dir, SaveOptions{DType: dtype}); err != nil {
		f.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	return read(ConfigFile), read(WeightsFile), read(TokenizerFile)
}

// FuzzLoadHF: any config.json and model.safetensors (beside a valid
// tokenizer.model) either fail to load with an error or give a model that
// runs a forward pass and saves back.
func FuzzLoadHF(f *testing.F) {
	cfg, w, tok := tinyDir(f, 1, "F32")
	f.Add(cfg, w)
	cfg2, w2, _ := tinyDir(f, 2, "BF16")
	f.Add(cfg2, w2)
	f.Fuzz(func(t *testing.T, config, weights []byte) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{ConfigFile: config, WeightsFile: weights, TokenizerFile: tok} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, err := Load(dir, model.LoadOptions{DType: tensor.F16})
		if err != nil {
			return
		}
		st, err := m.NewBoundedState(2, 2, 64<<20)
		if err != nil {
			return
		}
		if _, err := st.Forward([]int{1, 0}, true); err != nil {
			t.Fatalf("a loaded model fails a forward pass: %v", err)
		}
		if err := Save(m, filepath.Join(dir, "out"), SaveOptions{}); err != nil {
			t.Fatalf("a loaded model does not save: %v", err)
		}
		if _, err := Load(filepath.Join(dir, "out"), model.LoadOptions{DType: tensor.F16}); err != nil {
			t.Fatalf("a saved model does not load back: %v", err)
		}
	})
}

// FuzzParseConfig: a config.json either is refused or converts to a shape
// that validates and whose state size is computable (no overflow).
func FuzzParseConfig(f *testing.F) {
	cfg, _, _ := tinyDir(f, 2, "F32")
	f.Add(cfg)
	f.Add([]byte(`{"model_type":"llama","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":8,"head_dim":2305843009213693960,"vocab_size":16,"intermediate_size":8}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		mc, err := c.ModelConfig()
		if err != nil {
			return
		}
		if err := mc.Validate(); err != nil {
			t.Fatalf("ModelConfig accepted a shape Validate refuses: %v", err)
		}
		m := model.Model{Config: mc}
		if _, err := m.StateBytes(1, 1); err != nil {
			t.Fatalf("an accepted shape's state size overflows: %v", err)
		}
	})
}

// FuzzLoadAdapter: any adapter_config.json and adapter_model.safetensors
// either fail to load or give an adapter whose merge is refused or leaves
// every weight finite.
func FuzzLoadAdapter(f *testing.F) {
	m := tinymodel.New(1, tensor.F16, 2)
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha = 2, 4
	a, err := lora.New(m, cfg, 3)
	if err != nil {
		f.Fatal(err)
	}
	for _, mods := range a.Modules {
		for _, mod := range mods {
			if mod != nil {
				for i := range mod.B {
					mod.B[i] = 0.01 * float32(i%7-3)
				}
			}
		}
	}
	dir := filepath.Join(f.TempDir(), "adapter")
	if err := SaveAdapter(a, m, dir, "F16", ""); err != nil {
		f.Fatal(err)
	}
	c, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	w, _ := os.ReadFile(filepath.Join(dir, AdapterWeightsFile))
	f.Add(c, w)
	f.Fuzz(func(t *testing.T, config, weights []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, AdapterConfigFile), config, 0o644)
		os.WriteFile(filepath.Join(dir, AdapterWeightsFile), weights, 0o644)
		a, err := LoadAdapter(dir, m)
		if err != nil {
			return
		}
		merged := m.Clone()
		if err := a.Merge(merged); err != nil {
			return
		}
		for l := range merged.Blocks {
			for _, tg := range a.Targets {
				if w := tg.Weight(&merged.Blocks[l]); w != nil {
					if err := w.CheckFinite(tg.String()); err != nil {
						t.Fatalf("a merge succeeded with non-finite weights: %v", err)
					}
				}
			}
		}
		if _, err := json.Marshal(a.Config); err != nil {
			t.Fatalf("the adapter's config does not encode: %v", err)
		}
	})
}
