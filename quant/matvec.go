//go:build !(wasip1 && shearhost)

package quant

import (
	"sync"

	"github.com/shear-ai/shear/simd"
)

// MatVecQ8_0 computes out[r] = w[r]·x for rows×cols Q8_0 weights w. It
// quantizes x to Q8_0 into xq (at least RowBytesQ8_0(cols) bytes, scratch of
// the caller), then runs the rows in parallel. It does not allocate.
func MatVecQ8_0(out []float32, w []byte, x []float32, rows, cols int, xq []byte) {
	matMul(formatQ8_0, out, x, w, 1, rows, cols, xq)
}

// MatVecQ4_0 is MatVecQ8_0 for Q4_0 weights.
func MatVecQ4_0(out []float32, w []byte, x []float32, rows, cols int, xq []byte) {
	matMul(formatQ4_0, out, x, w, 1, rows, cols, xq)
}

// MatMulQ8_0 computes out[n×rows] = x[n×cols]·wᵀ for rows×cols Q8_0 weights,
// row-major. xq is scratch of at least n·RowBytesQ8_0(cols) bytes.
func MatMulQ8_0(out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	matMul(formatQ8_0, out, x, w, n, rows, cols, xq)
}

// MatMulQ4_0 is MatMulQ8_0 for Q4_0 weights.
func MatMulQ4_0(out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	matMul(formatQ4_0, out, x, w, n, rows, cols, xq)
}

type format uint8

const (
	formatQ8_0 format = iota
	formatQ4_0
)

// mmTask is one matrix product handed to simd.ParallelFor. Its index range
// counts groups of unit weight rows, the unit of the assembly kernels. Tasks
// are recycled through a sync.Pool so that a call allocates nothing and
// concurrent calls do not share one.
type mmTask struct {
	format      format
	out         []float32
	w, xq       []byte
	n, rows     int
	rb, xrb, nb int
	tile        int       // weight rows per tile, a multiple of 4
	unit        int       // weight rows per ParallelFor index
	acts        *vnniActs // activation side of the VNNI kernels, nil without them
}

var mmTasks = sync.Pool{New: func() any { return new(mmTask) }}

func matMul(f format, out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	checkCols(cols)
	nb := cols / BlockSize
	xrb := nb * Q8_0BlockBytes
	rb := nb * Q8_0BlockBytes
	if f == formatQ4_0 {
		rb = nb * Q4_0BlockBytes
	}
	if !prepareProduct(out, x, w, xq, n, rows, cols, rb, xrb, QuantizeQ8_0) {
		return
	}

	t := mmTasks.Get().(*mmTask)
	*t = mmTask{
		format: f,
		out:    out[:n*rows],
		w:      w[:rows*rb],
		xq:     xq[:n*xrb],
		n:      n,
		rows:   rows,
		rb:     rb,
		xrb:    xrb,
		nb:     nb,
		tile:   max(4, tileBytes/rb&^3),
	}
	t.unit = vnniUnit(n)
	t.prepareVNNI()
	units := (rows + t.unit - 1) / t.unit
	grain := max(1, grainBytes/(t.unit*rb))
	simd.ParallelFor(units, grain, t)
	t.releaseVNNI()
	*t = mmTask{}
	mmTasks.Put(t)
}

// Run computes weight rows [unit·lo, unit·hi) for every activation row,
// one tile of weight rows at a time.
func (t *mmTask) Run(lo, hi int) {
	r0, r1 := t.unit*lo, min(t.unit*hi, t.rows)
	r0 = t.runVNNI(r0, r1)
	for a := r0; a < r1; a += t.tile {
		b := min(a+t.tile, r1)
		w := t.w[a*t.rb:] // to the end, so the prefetch runs on into the next tile
		i := 0
		for ; i+2 <= t.n; i += 2 { // two tokens share each weight block's loads
			out0 := t.out[i*t.rows+a : i*t.rows+b]
			out1 := t.out[(i+1)*t.rows+a : (i+1)*t.rows+b]
			xq := t.xq[i*t.xrb : (i+2)*t.xrb]
			if t.format == formatQ8_0 {
				rowsQ8_0x2(out0, out1, w, t.rb, xq, t.xrb, t.nb)
			} else {
				rowsQ4_0x2(out0, out1, w, t.rb, xq, t.xrb, t.nb)
			}
		}
		for ; i < t.n; i++ {
			out := t.out[i*t.rows+a : i*t.rows+b]
			xq := t.xq[i*t.xrb : (i+1)*t.xrb]
			if t.format == formatQ8_0 {
				rowsQ8_0(out, w, t.rb, xq, t.nb)
			} else {
				rowsQ4_0(out, w, t.rb, xq, t.nb)
			}
		}
	}
}
