package model

import (
	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tensor"
)

// The storage rule of every writer: a model written from another keeps
// the storage type of the file it came from (a pruned F16 model stays
// F16, a Q8_0 one Q8_0) unless the caller asks for another, whatever the
// model was held in while it was trained or pruned.

// fileStorage is the storage type of most of a GGUF file's matrix
// elements (norms and other vectors do not count).
func fileStorage(f *gguf.File) tensor.DType {
	count := map[tensor.DType]uint64{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if dt, ok := tensor.DTypeOfGGUF(t.Type); ok && len(t.Dims) == 2 {
			count[dt] += t.Elements()
		}
	}
	best := tensor.F32
	for dt, n := range count {
		if n > count[best] || (n == count[best] && dt < best) {
			best = dt
		}
	}
	return best
}

// OutputStorage is the storage type a model written from m gets by
// default: its source's, or for a K-quant source (which Shear runs but
// does not write) the block type of about the same size: Q4_K → Q4_0,
// Q5_K and Q6_K → Q8_0.
func (m *Model) OutputStorage() tensor.DType {
	switch m.SourceStorage {
	case tensor.Q4_K:
		return tensor.Q4_0
	case tensor.Q5_K, tensor.Q6_K:
		return tensor.Q8_0
	}
	return m.SourceStorage
}

// Convert changes the storage type of every matrix in place (a tied
// output follows the embedding). As llama.cpp's quantizer does, a matrix
// whose rows are not whole Q8_0/Q4_0 blocks (a pruned FFN width of 142,
// say) is stored as F16 instead.
func (m *Model) Convert(dt tensor.DType) error {
	for _, r := range m.Matrices() {
		w := *r.Mat
		if w == nil {
			continue
		}
		want := dt
		if (dt == tensor.Q8_0 || dt == tensor.Q4_0) && w.Cols%quant.BlockSize != 0 {
			want = tensor.F16
		}
		nw, err := w.Convert(want)
		if err != nil {
			return err
		}
		*r.Mat = nw
	}
	if m.Tied {
		m.Output = m.Embed
	}
	return nil
}
