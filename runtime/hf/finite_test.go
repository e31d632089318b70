package hf

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/safetensors"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestAdapterNotFiniteRefused (issue 17 item 3): an adapter holding a NaN
// is refused at load, naming the tensor; a lora_alpha of 3e38 overflows
// the merged weights, and the merge is refused, naming the matrix.
func TestAdapterNotFiniteRefused(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0} {
		m := randomGQA(t, dt)
		cfg := lora.DefaultConfig()
		cfg.Rank, cfg.Alpha = 2, 4
		a, err := lora.New(m, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, mods := range a.Modules {
			for _, mod := range mods {
				if mod != nil {
					for i := range mod.B {
						mod.B[i] = float32(rng.NormFloat64())
					}
				}
			}
		}
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := SaveAdapter(a, m, dir, "F32", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadAdapter(dir, m); err != nil {
			t.Fatalf("%s: the intact adapter: %v", dt, err)
		}

		// lora_alpha 3e38: finite in float32, but s·B·A is not.
		cfgPath := filepath.Join(dir, AdapterConfigFile)
		raw, _ := os.ReadFile(cfgPath)
		var c map[string]any
		json.Unmarshal(raw, &c)
		c["lora_alpha"] = 3e38
		huge, _ := json.Marshal(c)
		os.WriteFile(cfgPath, huge, 0o644)
		ha, err := LoadAdapter(dir, m)
		if err != nil {
			t.Fatalf("%s: lora_alpha 3e38: %v", dt, err)
		}
		if err := ha.Merge(m.Clone()); err == nil || !strings.Contains(err.Error(), "not finite") || !strings.Contains(err.Error(), "layer 0 q") {
			t.Errorf("%s: merge with lora_alpha 3e38: error %v, want one naming the non-finite matrix", dt, err)
		}
		os.WriteFile(cfgPath, raw, 0o644)

		// A NaN in one lora_B.
		wpath := filepath.Join(dir, AdapterWeightsFile)
		f, err := safetensors.Read(wpath)
		if err != nil {
			t.Fatal(err)
		}
		ts := slices.Clone(f.Tensors)
		name := peftTensorName(1, lora.V, "B")
		for i := range ts {
			if ts[i].Name == name {
				ts[i].Data = slices.Clone(ts[i].Data)
				copy(ts[i].Data[8:], []byte{0, 0, 0xc0, 0x7f})
			}
		}
		if err := safetensors.Write(wpath, ts, f.Metadata); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadAdapter(dir, m); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "element 2 is NaN") {
			t.Errorf("%s: adapter with a NaN: error %v, want one naming %s", dt, err, name)
		}
	}
}
