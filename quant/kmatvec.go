package quant

import (
	"fmt"
	"sync"

	"github.com/shear-ai/shear/simd"
)

// KType names a K-quant weight format.
type KType uint8

const (
	Q4_K KType = iota
	Q5_K
	Q6_K
)

func (k KType) String() string {
	if k <= Q6_K {
		return [...]string{"Q4_K", "Q5_K", "Q6_K"}[k]
	}
	return fmt.Sprintf("KType(%d)", uint8(k))
}

// RowBytes is the size of a row of cols values, cols a multiple of
// SuperBlockSize.
func (k KType) RowBytes(cols int) int {
	return superBlocks(cols) * [...]int{Q4_KBlockBytes, Q5_KBlockBytes, Q6_KBlockBytes}[k]
}

// Dequantize expands len(dst) values from the blocks at the start of src.
func (k KType) Dequantize(dst []float32, src []byte) {
	[...]func([]float32, []byte){DequantizeQ4_K, DequantizeQ5_K, DequantizeQ6_K}[k](dst, src)
}

func (k KType) rows(out []float32, w []byte, rb int, xq []byte, nb int) {
	switch k {
	case Q4_K:
		rowsQ4_K(out, w, rb, xq, nb)
	case Q5_K:
		rowsQ5_K(out, w, rb, xq, nb)
	default:
		rowsQ6_K(out, w, rb, xq, nb)
	}
}

// MatMulK computes out[n×rows] = x[n×cols]·wᵀ for rows×cols weights w of
// K-quant type k, row-major (n = 1: a matrix-vector product). It quantizes
// each activation row to Q8_K into xq (at least n·RowBytesQ8_K(cols) bytes,
// scratch of the caller) and runs the super-block dot kernels over the
// weight rows in parallel, in tiles that stay in cache while every
// activation row passes over them. It does not allocate.
func MatMulK(k KType, out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	if k > Q6_K {
		panic(fmt.Sprintf("quant: unknown K-quant type %d", k))
	}
	nb := superBlocks(cols)
	rb, xrb := k.RowBytes(cols), RowBytesQ8_K(cols)
	if !prepareProduct(out, x, w, xq, n, rows, cols, rb, xrb, QuantizeQ8_K) {
		return
	}
	t := kTasks.Get().(*kTask)
	*t = kTask{k: k, out: out[:n*rows], w: w[:rows*rb], xq: xq[:n*xrb], n: n, rows: rows, rb: rb, xrb: xrb, nb: nb,
		tile: max(1, tileBytes/rb)}
	simd.ParallelFor(rows, max(1, grainBytes/rb), t)
	*t = kTask{}
	kTasks.Put(t)
}

const (
	// tileBytes bounds the weights one tile holds, so that they stay in L1
	// while every activation row of a product passes over them.
	tileBytes = 16 << 10
	// grainBytes is the least weight data worth handing to another thread.
	grainBytes = 32 << 10
)

// prepareProduct checks the operands of a quantized product out[n×rows] =
// x[n×cols]·wᵀ (weight rows of rb bytes, activation rows of xrb bytes once
// quantized), handles the empty cases, and quantizes the activations into
// xq. It reports whether there is anything left to multiply.
func prepareProduct(out, x []float32, w, xq []byte, n, rows, cols, rb, xrb int, quantize func([]byte, []float32)) bool {
	if n < 0 || rows < 0 {
		panic("quant: negative matrix size")
	}
	checkLen("out", len(out), n*rows)
	checkLen("x", len(x), n*cols)
	checkLen("w", len(w), rows*rb)
	checkLen("xq", len(xq), n*xrb)
	if cols == 0 {
		clear(out[:n*rows])
		return false
	}
	if n == 0 || rows == 0 {
		return false
	}
	for i := range n {
		quantize(xq[i*xrb:(i+1)*xrb], x[i*cols:(i+1)*cols])
	}
	return true
}

// kTask is one MatMulK handed to simd.ParallelFor over weight rows,
// recycled so that a call allocates nothing.
type kTask struct {
	k           KType
	out         []float32
	w, xq       []byte
	n, rows     int
	rb, xrb, nb int
	tile        int // weight rows per tile
}

var kTasks = sync.Pool{New: func() any { return new(kTask) }}

func (t *kTask) Run(lo, hi int) {
	for a := lo; a < hi; a += t.tile {
		b := min(a+t.tile, hi)
		for i := range t.n {
			t.k.rows(t.out[i*t.rows+a:i*t.rows+b], t.w[a*t.rb:b*t.rb], t.rb, t.xq[i*t.xrb:(i+1)*t.xrb], t.nb)
		}
	}
}
