package model_test

import (
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestSourceStorage: a model remembers the storage of its file whatever
// it was converted to at load, and Convert keeps rows that are not whole
// blocks in F16 (as llama.cpp's quantizer does) instead of failing.
func TestSourceStorage(t *testing.T) {
	stories := loadStories(t, tensor.F16)
	if stories.SourceStorage != tensor.F32 {
		t.Errorf("stories260K (an f32 file) loaded as f16: source storage %s", stories.SourceStorage)
	}
	c := model.UniformConfig(64, 96, 2, 4, 2, stories.Vocab, 64)
	c.FFN[1] = 80 // w_down of layer 1 has 80 columns: not whole 32-value blocks
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		m, err := model.NewRandom(c, tensor.F16, 1)
		if err != nil {
			t.Fatal(err)
		}
		m.Tok = stories.Tok
		if err := m.Convert(dt); err != nil {
			t.Fatalf("Convert(%s): %v", dt, err)
		}
		if got := m.Blocks[1].Wdown.DType; (dt.Quantized() && got != tensor.F16) || (!dt.Quantized() && got != dt) {
			t.Errorf("Convert(%s): an 80-column w_down is %s", dt, got)
		}
		if m.Blocks[0].Wdown.DType != dt || m.Embed.DType != dt {
			t.Errorf("Convert(%s): w_down %s, embedding %s", dt, m.Blocks[0].Wdown.DType, m.Embed.DType)
		}
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := model.Load(path, model.LoadOptions{DType: tensor.F32})
		if err != nil {
			t.Fatal(err)
		}
		if back.SourceStorage != dt || back.OutputStorage() != dt || back.Embed.DType != tensor.F32 {
			t.Errorf("%s file loaded as f32: source %s, output %s, held as %s", dt, back.SourceStorage, back.OutputStorage(), back.Embed.DType)
		}
		if c := back.Clone(); c.SourceStorage != dt {
			t.Errorf("Clone lost the source storage %s", dt)
		}
	}
}
