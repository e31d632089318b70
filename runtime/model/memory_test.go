package model_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestLoadAndWriteDoNotCopyWeights: a model loaded in its file's storage
// views the file's buffer, and writing it views the model's weights, so
// neither holds a second model's memory (issue #20); the written bytes are
// still the model's, bit for bit.
func TestLoadAndWriteDoNotCopyWeights(t *testing.T) {
	stories := loadStories(t, tensor.F32)
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0} {
		src, err := model.NewRandom(model.UniformConfig(256, 512, 4, 8, 4, stories.Vocab, 128), dt, 1)
		if err != nil {
			t.Fatal(err)
		}
		src.Tok = stories.Tok
		file, err := src.Encode()
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse(file)
		if err != nil {
			t.Fatal(err)
		}
		name := "a random " + dt.String() + " model"
		weights := uint64(0)
		for i := range f.Tensors {
			if len(f.Tensors[i].Dims) == 2 {
				weights += f.Tensors[i].Size
			}
		}
		var m *model.Model
		loaded := allocated(func() { m, err = model.FromGGUF(f, model.LoadOptions{DType: dt}) })
		// (the file's own tokenizer is loaded too; it is small here)
		if err != nil {
			t.Fatal(err)
		}
		if loaded > weights/4 {
			t.Errorf("%s: loading allocated %d bytes for %d bytes of %s matrices", name, loaded, weights, dt)
		}
		var b *gguf.Builder
		built := allocated(func() { b, err = m.GGUF() })
		if err != nil {
			t.Fatal(err)
		}
		if built > weights/4 {
			t.Errorf("%s: building the file allocated %d bytes for %d bytes of matrices", name, built, weights)
		}
		var out bytes.Buffer
		if _, err := b.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		back, err := gguf.Parse(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Tensors {
			in := &f.Tensors[i]
			got, ok := back.Tensor(in.Name)
			if !ok {
				t.Fatalf("%s: %s not written", name, in.Name)
			}
			if !bytes.Equal(back.TensorData(got), f.TensorData(in)) {
				t.Errorf("%s: %s written differs from the file", name, in.Name)
			}
		}
	}
}

// allocated is the number of bytes fn allocates on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
