package model_test

import (
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// FuzzLoadGGUF: any bytes either fail to load with an error or give a
// model that runs a forward pass, saves, and loads back with the same
// shape. Seeds are tiny models in every storage type.
func FuzzLoadGGUF(f *testing.F) {
	for i, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		f.Add(uint8(i), tinymodel.GGUF(1+i%2, dt, uint64(i)))
	}
	f.Fuzz(func(t *testing.T, storage uint8, b []byte) {
		gf, err := gguf.Parse(b)
		if err != nil {
			return
		}
		dt := tensor.DType(storage % 4)
		m, err := model.FromGGUF(gf, model.LoadOptions{DType: dt})
		if err != nil {
			return
		}
		st, err := m.NewBoundedState(2, 2, 64<<20)
		if err != nil {
			return // a shape whose state would not fit the budget
		}
		if _, err := st.Forward([]int{m.Tok.BOS() & 0x7fffffff % m.Vocab, 0}, true); err != nil {
			t.Fatalf("a loaded model fails a forward pass: %v", err)
		}
		raw, err := m.Encode()
		if err != nil {
			t.Fatalf("a loaded model does not encode: %v", err)
		}
		g2, err := gguf.Parse(raw)
		if err != nil {
			t.Fatalf("the re-encoded model does not parse: %v", err)
		}
		m2, err := model.FromGGUF(g2, model.LoadOptions{DType: dt})
		if err != nil {
			t.Fatalf("the re-encoded model does not load: %v", err)
		}
		if m2.Params() != m.Params() || m2.Vocab != m.Vocab || m2.Layers != m.Layers {
			t.Fatalf("round trip changed the shape: %d→%d params", m.Params(), m2.Params())
		}
	})
}
