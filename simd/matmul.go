//go:build !(wasip1 && shearhost)

package simd

import "fmt"

// Matrix products over row-major weights w of rows×cols (GGUF layout: one
// row per output feature). The forward products are dot-product shaped:
// both operands are read along cols, which is contiguous for x and w alike.

func checkMat(op string, name string, have, need int) {
	if have < need {
		panicMat(op, name, have, need)
	}
}

//go:noinline
func panicMat(op string, name string, have, need int) {
	panic(fmt.Sprintf("simd.%s: len(%s) = %d, need at least %d", op, name, have, need))
}

func checkDims(op string, n, rows, cols int) {
	if n < 0 || rows < 0 || cols < 0 {
		panicDims(op, n, rows, cols)
	}
}

//go:noinline
func panicDims(op string, n, rows, cols int) {
	panic(fmt.Sprintf("simd.%s: negative dimension in (%d, %d, %d)", op, n, rows, cols))
}

// Minimum work (multiply-adds) before a kernel is split over the pool.
const parallelMinWork = 1 << 15

// MatVec computes out[r] = Σ_c w[r*cols+c]*x[c] for r < rows, in parallel
// over rows. It uses the first rows*cols elements of w, cols of x and rows
// of out; out must not overlap w or x.
func MatVec(out, w, x []float32, rows, cols int) {
	checkDims("MatVec", 1, rows, cols)
	checkMat("MatVec", "out", len(out), rows)
	checkMat("MatVec", "w", len(w), rows*cols)
	checkMat("MatVec", "x", len(x), cols)
	if rows == 0 {
		return
	}
	if cols == 0 {
		clear(out[:rows])
		return
	}
	t := matVecFree.get()
	*t = matVecTask{out: out, w: w, x: x[:cols], rows: rows, cols: cols}
	t.start()
	*t = matVecTask{}
	matVecFree.put(t)
}

// MatVecF16 is MatVec with IEEE half-precision weights (as bits). Each
// weight is converted as it is multiplied; the matrix is never converted
// as a whole.
func MatVecF16(out []float32, w []uint16, x []float32, rows, cols int) {
	checkDims("MatVecF16", 1, rows, cols)
	checkMat("MatVecF16", "out", len(out), rows)
	checkMat("MatVecF16", "w", len(w), rows*cols)
	checkMat("MatVecF16", "x", len(x), cols)
	if rows == 0 {
		return
	}
	if cols == 0 {
		clear(out[:rows])
		return
	}
	t := matVecFree.get()
	*t = matVecTask{out: out, wh: w, half: true, x: x[:cols], rows: rows, cols: cols}
	t.start()
	*t = matVecTask{}
	matVecFree.put(t)
}

type matVecTask struct {
	out, w, x  []float32
	wh         []uint16
	half       bool
	rows, cols int
}

var matVecFree freeList[matVecTask]

func (t *matVecTask) start() {
	quads := (t.rows + 3) / 4
	if t.rows*t.cols < parallelMinWork {
		t.Run(0, quads)
		return
	}
	// About 64 KiB of weights per chunk at least.
	es := 4
	if t.half {
		es = 2
	}
	ParallelFor(quads, max(1, (64<<10)/(4*t.cols*es)), t)
}

// Run computes the rows of quads [lo, hi) (rows 4*lo up to 4*hi).
func (t *matVecTask) Run(lo, hi int) {
	cols := t.cols
	for r := 4 * lo; r < min(4*hi, t.rows); r += 4 {
		// Two quads at once where the AVX-512 kernel runs.
		if t.half && r+8 <= min(4*hi, t.rows) && t.matVec8F16(r) {
			r += 4
			continue
		}
		if r+4 <= t.rows {
			if t.half {
				kern1x4F16(t.out[r:r+4], t.x, t.wh[r*cols:], cols, cols)
			} else {
				kern1x4(t.out[r:r+4], t.x, t.w[r*cols:], cols, cols, false)
			}
			continue
		}
		for ; r < t.rows; r++ {
			if t.half {
				t.out[r] = dotF16(t.x, t.wh[r*cols:(r+1)*cols])
			} else {
				t.out[r] = dot(t.x, t.w[r*cols:(r+1)*cols])
			}
		}
	}
}

// MatMul computes out[i*rows+r] = Σ_c x[i*cols+c]*w[r*cols+c], that is
// out[n×rows] = x[n×cols]·wᵀ (the prefill of n tokens). It uses the first
// n*cols elements of x, rows*cols of w and n*rows of out; out must not
// overlap x or w.
func MatMul(out, x, w []float32, n, rows, cols int) {
	checkDims("MatMul", n, rows, cols)
	checkMat("MatMul", "out", len(out), n*rows)
	checkMat("MatMul", "x", len(x), n*cols)
	checkMat("MatMul", "w", len(w), rows*cols)
	matMul(out, x, w, nil, false, n, rows, cols)
}

// MatMulF16 is MatMul with IEEE half-precision weights (as bits). Tiles of
// w are converted into a per-chunk scratch buffer that is reused across
// calls.
func MatMulF16(out, x []float32, w []uint16, n, rows, cols int) {
	checkDims("MatMulF16", n, rows, cols)
	checkMat("MatMulF16", "out", len(out), n*rows)
	checkMat("MatMulF16", "x", len(x), n*cols)
	checkMat("MatMulF16", "w", len(w), rows*cols)
	matMul(out, x, nil, w, true, n, rows, cols)
}

func matMul(out, x, w []float32, wh []uint16, half bool, n, rows, cols int) {
	if n == 0 || rows == 0 {
		return
	}
	if cols == 0 {
		clear(out[:n*rows])
		return
	}
	if n == 1 {
		if half {
			MatVecF16(out, wh, x, rows, cols)
		} else {
			MatVec(out, w, x, rows, cols)
		}
		return
	}
	t := matMulFree.get()
	*t = matMulTask{out: out, x: x, w: w, wh: wh, half: half, n: n, rows: rows, cols: cols}
	t.start()
	*t = matMulTask{}
	matMulFree.put(t)
}

// Tiling of the forward product. A chunk owns a block of rbRows w rows by
// nb x rows and walks cols in tiles of kc: per tile, each quad of w rows is
// copied (or converted) into scratch, where it stays in L1 while every
// triple of x rows of the block (kept in L2) meets it.
const (
	rbRows   = 32       // w rows per block
	kcMax    = 1024     // cols up to this are not tiled
	kcTile   = 512      // target tile when they are
	l2Floats = 64 << 10 // x block budget (256 KiB)
)

// wideX × wideW is the tile (x rows × w rows) of the AVX-512 kernel
// (kernels_avx512_amd64.go, used where the CPU has it).
const wideX, wideW = 6, 8

type matMulTask struct {
	out, x, w       []float32
	wh              []uint16
	half            bool
	n, rows, cols   int
	kc, nb, rBlocks int
}

var matMulFree freeList[matMulTask]

func (t *matMulTask) start() {
	t.kc = t.cols
	if t.cols > kcMax {
		tiles := (t.cols + kcTile - 1) / kcTile
		t.kc = ((t.cols+tiles-1)/tiles + 7) &^ 7
	}
	// x blocks hold whole tiles of the kernel: three rows (six with the
	// AVX-512 kernel, whose CPUs have L2s of 1 MiB or more: twice the
	// block, so each packed w panel serves twice the x rows).
	step, budget := 3, l2Floats
	if t.wide(t.kc) {
		step, budget = wideX, 2*l2Floats
	}
	nbMax := max(step, budget/t.kc/step*step)
	nBlocks := (t.n + nbMax - 1) / nbMax
	t.nb = ((t.n+nBlocks-1)/nBlocks + step - 1) / step * step
	nBlocks = (t.n + t.nb - 1) / t.nb
	t.rBlocks = (t.rows + rbRows - 1) / rbRows
	tasks := nBlocks * t.rBlocks
	if t.n*t.rows*t.cols < parallelMinWork {
		t.Run(0, tasks)
		return
	}
	ParallelFor(tasks, 1, t)
}

// Run computes blocks [lo, hi); block b covers x rows of block b/rBlocks
// and w rows of block b%rBlocks, so neighbouring blocks share x.
func (t *matMulTask) Run(lo, hi int) {
	s := getScratch(max(4*t.kc, wideScratch(t.kc)))
	for b := lo; b < hi; b++ {
		i0 := b / t.rBlocks * t.nb
		r0 := b % t.rBlocks * rbRows
		t.block(r0, min(r0+rbRows, t.rows), i0, min(i0+t.nb, t.n), s)
	}
	scratchFree.put(s)
}

func (t *matMulTask) block(r0, r1, i0, i1 int, s *scratch) {
	cols, rows := t.cols, t.rows
	out, x := t.out, t.x
	for k0 := 0; k0 < cols; k0 += t.kc {
		kl := min(t.kc, cols-k0)
		acc := k0 > 0
		r := t.wideRows(r0, r1, i0, i1, k0, kl, acc, s.buf)
		for ; r+4 <= r1; r += 4 {
			w := t.loadRows(s.buf, r, 4, k0, kl)
			i := i0
			for ; i+3 <= i1; i += 3 {
				kern3x4(out[i*rows+r:], rows, x[i*cols+k0:], cols, w, kl, kl, acc)
			}
			for ; i < i1; i++ {
				kern1x4(out[i*rows+r:], x[i*cols+k0:], w, kl, kl, acc)
			}
		}
		for ; r < r1; r++ {
			w := t.loadRows(s.buf, r, 1, k0, kl)
			for i := i0; i < i1; i++ {
				d := dot(x[i*cols+k0:i*cols+k0+kl], w)
				if acc {
					out[i*rows+r] += d
				} else {
					out[i*rows+r] = d
				}
			}
		}
	}
}

// loadRows copies (converting f16) w[r:r+m, k0:k0+kl] into buf as m rows of
// kl floats and returns them.
func (t *matMulTask) loadRows(buf []float32, r, m, k0, kl int) []float32 {
	for j := 0; j < m; j++ {
		src := (r+j)*t.cols + k0
		if t.half {
			f16ToF32(buf[j*kl:(j+1)*kl], t.wh[src:src+kl])
		} else {
			copy(buf[j*kl:(j+1)*kl], t.w[src:src+kl])
		}
	}
	return buf[:m*kl]
}
