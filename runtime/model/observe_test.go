package model

import (
	"slices"
	"testing"

	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// TestObserverSeesTheBlocks rebuilds each block's output from what the
// observer saw: ResidualIn(l+1) = ResidualIn(l) + Wo·WoInput(l) +
// Wdown·WdownInput(l), with the forward pass's own kernels, bit for bit.
func TestObserverSeesTheBlocks(t *testing.T) {
	m, err := NewRandom(UniformConfig(32, 48, 3, 4, 2, 64, 16), tensor.F32, 7)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		at Point
		l  int
	}
	seen := map[key][]float32{}
	s := m.NewState(16, 8)
	s.Observe = func(at Point, l int, rows []float32, n, width int) {
		if len(rows) != n*width {
			t.Fatalf("point %d layer %d: %d values for %d×%d", at, l, len(rows), n, width)
		}
		seen[key{at, l}] = append(seen[key{at, l}], rows...)
	}
	tokens := []int{1, 5, 9, 13, 2, 40}
	if _, err := s.Forward(tokens, true); err != nil {
		t.Fatal(err)
	}
	n, d := len(tokens), m.Dim
	var sc tensor.Scratch
	for l := range m.Blocks {
		L := &m.Blocks[l]
		want := slices.Clone(seen[key{ResidualIn, l}])
		tmp := make([]float32, n*d)
		L.Wo.MatMul(tmp, seen[key{WoInput, l}], n, &sc)
		simd.Add(want, want, tmp)
		L.Wdown.MatMul(tmp, seen[key{WdownInput, l}], n, &sc)
		simd.Add(want, want, tmp)
		got := seen[key{ResidualIn, l + 1}]
		if !slices.Equal(got, want) {
			t.Fatalf("layer %d: the observed residual after the block differs from the one rebuilt from its observed inputs", l)
		}
	}
	if len(seen) != 3*len(m.Blocks)+1 {
		t.Fatalf("observed %d (point, layer) pairs, want %d", len(seen), 3*len(m.Blocks)+1)
	}
}
