package model_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestLoadRefusesNonFinite (issue 17 item 3): a NaN or Inf in any storage
// type, including a quantized block's scale, is refused at load and the
// tensor named, whether it is kept in its type or converted. F16 used to
// pass unchecked with the default f16 storage, and a Q8_0 NaN scale too.
func TestLoadRefusesNonFinite(t *testing.T) {
	const name = "blk.0.attn_q.weight"
	for _, c := range []struct {
		stored tensor.DType
		off    int // byte offset of the corruption in the tensor
		bad    []byte
		want   string
	}{
		{tensor.F32, 4 * 5, []byte{0, 0, 0xc0, 0x7f}, "element 5 is NaN"},
		{tensor.F32, 0, []byte{0, 0, 0x80, 0xff}, "element 0 is -Inf"},
		{tensor.F16, 2 * 7, []byte{0, 0x7e}, "element 7 is NaN"},
		{tensor.F16, 2 * 63, []byte{0, 0x7c}, "element 63 is +Inf"},
		{tensor.Q8_0, 34 * 3, []byte{0, 0x7e}, "scale of Q8_0 block 3"},
		{tensor.Q4_0, 18 * 1, []byte{0, 0xfc}, "scale of Q4_0 block 1"},
	} {
		raw, err := loadStories(t, c.stored).Encode()
		if err != nil {
			t.Fatal(err)
		}
		for _, load := range []tensor.DType{c.stored, tensor.F32} {
			f, err := gguf.Parse(append([]byte(nil), raw...))
			if err != nil {
				t.Fatal(err)
			}
			ti, _ := f.Tensor(name)
			copy(f.TensorData(ti)[c.off:], c.bad)
			_, err = model.FromGGUF(f, model.LoadOptions{DType: load})
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("stored %s, loaded as %s: error %v, want one naming %s and %q", c.stored, load, err, name, c.want)
			}
		}
	}
	// A finite F32 weight beyond f16's range, loaded as f16 or quantized.
	raw32, _ := loadStories(t, tensor.F32).Encode()
	for _, load := range []tensor.DType{tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		f, _ := gguf.Parse(append([]byte(nil), raw32...))
		ti, _ := f.Tensor(name)
		copy(f.TensorData(ti)[4*3:], []byte{0xca, 0xf2, 0x49, 0x71}) // 1e30
		_, err := model.FromGGUF(f, model.LoadOptions{DType: load})
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not finite stored as "+load.String()) {
			t.Errorf("1e30 loaded as %s: error %v", load, err)
		}
	}
	// Norm vectors are checked as well.
	raw, _ := loadStories(t, tensor.F16).Encode()
	f, _ := gguf.Parse(raw)
	ti, _ := f.Tensor("output_norm.weight")
	copy(f.TensorData(ti)[8:], []byte{0, 0, 0x80, 0x7f})
	if _, err := model.FromGGUF(f, model.LoadOptions{DType: tensor.F16}); err == nil || !strings.Contains(err.Error(), "output_norm.weight") {
		t.Errorf("a norm with +Inf: error %v", err)
	}
}

// BenchmarkLoadFiniteCheck: the share of FromGGUF's time that the
// finiteness check takes, on a 21M-parameter model in each storage type
// (reported as check-%).
func BenchmarkLoadFiniteCheck(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0} {
		b.Run(dt.String(), func(b *testing.B) {
			m, err := model.NewRandom(model.UniformConfig(512, 1376, 4, 8, 8, 8000, 256), dt, 1)
			if err != nil {
				b.Fatal(err)
			}
			m.Tok = loadStories(b, tensor.F32).Tok
			m.Vocab = m.Tok.Size()
			m.Embed, _ = tensor.New(m.Vocab, m.Dim, make([]float32, m.Vocab*m.Dim), dt)
			m.Output = m.Embed
			m.Tied = true
			raw, err := m.Encode()
			if err != nil {
				b.Fatal(err)
			}
			f, err := gguf.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			var load, check time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := model.FromGGUF(f, model.LoadOptions{DType: dt}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				for i := range f.Tensors {
					ti := &f.Tensors[i]
					if err := tensor.CheckFinite(ti.Name, ti.Type, f.TensorData(ti)); err != nil {
						b.Fatal(err)
					}
				}
				load, check = load+t1.Sub(t0), check+time.Since(t1)
			}
			b.ReportMetric(100*check.Seconds()/load.Seconds(), "check-%")
			b.ReportMetric(float64(len(raw))/check.Seconds()*float64(b.N)/1e9, "check-GB/s")
		})
	}
}
