package model_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// randomKMatrix is a rows×cols matrix of K-quant type dt with random codes
// and small fp16 scales, so that its values are of the size of trained
// weights (|x| ≲ 0.1).
func randomKMatrix(rng *rand.Rand, dt tensor.DType, rows, cols int) *tensor.Matrix {
	blockBytes := map[tensor.DType]int{tensor.Q4_K: quant.Q4_KBlockBytes, tensor.Q5_K: quant.Q5_KBlockBytes, tensor.Q6_K: quant.Q6_KBlockBytes}[dt]
	nb := rows * cols / quant.SuperBlockSize
	q := make([]byte, nb*blockBytes)
	for i := range q {
		q[i] = byte(rng.Uint32())
	}
	for b := range nb {
		blk := q[b*blockBytes:]
		if dt == tensor.Q6_K {
			binary.LittleEndian.PutUint16(blk[208:], 0x0400|uint16(rng.IntN(256))) // ≈ 6e-5
		} else {
			binary.LittleEndian.PutUint16(blk[0:], 0x0800|uint16(rng.IntN(256))) // d ≈ 1.2e-4
			binary.LittleEndian.PutUint16(blk[2:], 0x0c00|uint16(rng.IntN(256))) // dmin ≈ 2.4e-4
		}
	}
	return &tensor.Matrix{Rows: rows, Cols: cols, DType: dt, Q: q}
}

// TestKQuantModel: a model whose matrices are Q4_K, Q5_K and Q6_K (mixed,
// as in llama.cpp's Q4_K_M files) saves and loads with its blocks intact
// under DefaultLoadOptions, and its logits follow those of the same
// weights dequantized to f32 within the error of the Q8_K activations.
func TestKQuantModel(t *testing.T) {
	src := loadStories(t, tensor.F32)
	c := model.UniformConfig(256, 512, 2, 4, 2, src.Vocab, 64)
	m, err := model.NewRandom(c, tensor.F32, 9)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	rng := rand.New(rand.NewPCG(21, 22))
	kinds := []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q5_K}
	m.Embed = randomKMatrix(rng, tensor.Q4_K, c.Vocab, c.Dim)
	m.Output = randomKMatrix(rng, tensor.Q6_K, c.Vocab, c.Dim)
	for l := range m.Blocks {
		L := &m.Blocks[l]
		for i, w := range []**tensor.Matrix{&L.Wq, &L.Wk, &L.Wv, &L.Wo, &L.Wgate, &L.Wup, &L.Wdown} {
			*w = randomKMatrix(rng, kinds[(i+l)%3], (*w).Rows, (*w).Cols)
		}
	}
	path := filepath.Join(t.TempDir(), "k.gguf")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	km, err := model.Load(path, model.DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if st := km.StorageTypes(); !slices.Equal(st, []tensor.DType{tensor.Q4_K, tensor.Q5_K, tensor.Q6_K}) {
		t.Fatalf("storage after a default load: %v", st)
	}
	if !slices.Equal(km.Blocks[1].Wdown.Q, m.Blocks[1].Wdown.Q) || !slices.Equal(km.Output.Q, m.Output.Q) {
		t.Fatal("K-quant blocks changed on save and load")
	}
	fm, err := model.Load(path, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fm.Blocks[0].Wq.F32, km.Blocks[0].Wq.Float32()) {
		t.Fatal("an f32 load does not dequantize as Matrix.Float32 does")
	}
	tokens := []int{1, 17, 40, 3, 99, 250, 7}
	ks, fs := km.NewState(len(tokens), 4), fm.NewState(len(tokens), 4)
	kl, err := ks.Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fs.Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	var maxDiff, maxLogit float64
	for i := range fl {
		maxDiff = max(maxDiff, math.Abs(float64(kl[i]-fl[i])))
		maxLogit = max(maxLogit, math.Abs(float64(fl[i])))
	}
	// Q8_K codes carry 1/254 of each super-block's largest activation.
	if maxDiff > 0.02*maxLogit || maxLogit == 0 {
		t.Errorf("K-quant logits differ from the f32 ones by up to %g (largest |logit| %g)", maxDiff, maxLogit)
	}
	t.Logf("max |Δlogit| %.3g of max |logit| %.3g", maxDiff, maxLogit)

	dec := km.NewState(16, 1)
	dec.Forward([]int{1}, false)
	if a := testing.AllocsPerRun(10, func() {
		if dec.Pos() >= 15 {
			dec.Reset()
		}
		dec.Forward([]int{5}, false)
	}); a != 0 {
		t.Errorf("%v allocations per decoded token with K-quant weights", a)
	}
}

// TestLoadRefusesNonFiniteKQuant (issue 17 item 3, K-quants): a NaN or
// ±Inf f16 scale in a Q4_K, Q5_K or Q6_K super-block fails the load with
// an error naming the tensor (K-quant tensors used to skip the check),
// whether the blocks are kept or decoded to f32.
func TestLoadRefusesNonFiniteKQuant(t *testing.T) {
	src := loadStories(t, tensor.F32)
	c := model.UniformConfig(256, 512, 1, 4, 2, src.Vocab, 64)
	m, err := model.NewRandom(c, tensor.F32, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	rng := rand.New(rand.NewPCG(5, 6))
	L := &m.Blocks[0]
	L.Wq = randomKMatrix(rng, tensor.Q4_K, L.Wq.Rows, L.Wq.Cols)
	L.Wup = randomKMatrix(rng, tensor.Q5_K, L.Wup.Rows, L.Wup.Cols)
	L.Wdown = randomKMatrix(rng, tensor.Q6_K, L.Wdown.Rows, L.Wdown.Cols)
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		tensor string
		offset int // of the scale in block 1
		want   string
	}{
		{"blk.0.attn_q.weight", quant.Q4_KBlockBytes + 0, "scale d of Q4_K block 1"},
		{"blk.0.attn_q.weight", quant.Q4_KBlockBytes + 2, "scale dmin of Q4_K block 1"},
		{"blk.0.ffn_up.weight", quant.Q5_KBlockBytes + 2, "scale dmin of Q5_K block 1"},
		{"blk.0.ffn_down.weight", quant.Q6_KBlockBytes + 208, "scale of Q6_K block 1"},
	} {
		for _, keep := range []bool{true, false} {
			f, err := gguf.Parse(append([]byte(nil), raw...))
			if err != nil {
				t.Fatal(err)
			}
			ti, _ := f.Tensor(bad.tensor)
			binary.LittleEndian.PutUint16(f.TensorData(ti)[bad.offset:], 0x7e00) // NaN
			opts := model.LoadOptions{DType: tensor.F32}
			if keep {
				opts = model.DefaultLoadOptions() // the blocks stay as they are
			}
			_, err = model.FromGGUF(f, opts)
			if err == nil || !strings.Contains(err.Error(), bad.tensor) || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("%s at byte %d (blocks kept: %v): error %v, want one naming the tensor and %q", bad.tensor, bad.offset, keep, err, bad.want)
			}
		}
	}
}
