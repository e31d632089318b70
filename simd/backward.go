//go:build !(wasip1 && shearhost)

package simd

// Gradients of the forward products. Both are plain (not transposed)
// matrix products C (+)= A·B, computed by one driver: A is packed into
// groups of 4 rows, B four 24-column panels at a time (converting f16), and
// a 4×24 register block of C accumulates over a tile of the shared
// dimension.

// MatMulBackIn computes dx[n×cols] = dy[n×rows]·w, that is
// dx[i*cols+c] = Σ_r dy[i*rows+r]*w[r*cols+c]: the gradient of MatMul with
// respect to x. dx is overwritten. It uses the first n*cols elements of dx,
// n*rows of dy and rows*cols of w; dx must not overlap dy or w.
func MatMulBackIn(dx, dy, w []float32, n, rows, cols int) {
	checkDims("MatMulBackIn", n, rows, cols)
	checkMat("MatMulBackIn", "dx", len(dx), n*cols)
	checkMat("MatMulBackIn", "dy", len(dy), n*rows)
	checkMat("MatMulBackIn", "w", len(w), rows*cols)
	gemmNN(dx, cols, dy, rows, 1, w, nil, false, cols, n, cols, rows, false)
}

// MatMulBackInF16 is MatMulBackIn with IEEE half-precision weights (bits).
func MatMulBackInF16(dx, dy []float32, w []uint16, n, rows, cols int) {
	checkDims("MatMulBackInF16", n, rows, cols)
	checkMat("MatMulBackInF16", "dx", len(dx), n*cols)
	checkMat("MatMulBackInF16", "dy", len(dy), n*rows)
	checkMat("MatMulBackInF16", "w", len(w), rows*cols)
	gemmNN(dx, cols, dy, rows, 1, nil, w, true, cols, n, cols, rows, false)
}

// MatMulBackW accumulates dw[rows×cols] += dyᵀ·x, that is
// dw[r*cols+c] += Σ_i dy[i*rows+r]*x[i*cols+c]: the gradient of MatMul with
// respect to w. It uses the first rows*cols elements of dw, n*rows of dy and
// n*cols of x; dw must not overlap dy or x.
func MatMulBackW(dw, dy, x []float32, n, rows, cols int) {
	checkDims("MatMulBackW", n, rows, cols)
	checkMat("MatMulBackW", "dw", len(dw), rows*cols)
	checkMat("MatMulBackW", "dy", len(dy), n*rows)
	checkMat("MatMulBackW", "x", len(x), n*cols)
	gemmNN(dw, cols, dy, 1, rows, x, nil, false, cols, rows, cols, n, true)
}

// gemmTask computes C[m×n] (+)= A[m×k]·B[k×n] with
// A(i,t) = a[i*sai+t*sak], B(t,j) = b[t*ldb+j] (or half bh), C(i,j) = c[i*ldc+j].
// A is first packed into ap as groups of 4 rows, [g][t][4], zero-padded, so
// that the kernel reads it as one contiguous stream whatever its strides.
type gemmTask struct {
	c          []float32
	ldc        int
	ap         []float32
	b          []float32
	bh         []uint16
	half       bool
	ldb        int
	m, n, k    int
	accumulate bool
	kc, mb     int
	nr, pb     int // columns per panel and panels per block: gemmNR, gemmPB (AVX-512: wideNR, widePB)
	panels     int // panels of nr columns
	blocks     int // blocks of pb panels
}

var gemmFree freeList[gemmTask]

const (
	gemmNR = 24  // columns per panel (three 8-lane vectors)
	gemmKC = 192 // shared-dimension tile: a packed panel is 18 KiB
	gemmPB = 4   // panels packed together, so B is read in whole lines

	// With the AVX-512 kernel (8 rows × 48 columns): panels of 48, two per
	// block (the same 96 columns).
	wideNR, widePB = 48, 2
)

func gemmNN(c []float32, ldc int, a []float32, sai, sak int, b []float32, bh []uint16, half bool, ldb, m, n, k int, accumulate bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	groups := (m + 3) / 4
	as := getScratch(groups * 4 * k)
	packA(as.buf, a, sai, sak, m, k)
	t := gemmFree.get()
	*t = gemmTask{c: c, ldc: ldc, ap: as.buf, b: b, bh: bh, half: half, ldb: ldb,
		m: m, n: n, k: k, accumulate: accumulate}
	t.kc = min(k, gemmKC)
	t.nr, t.pb = gemmNR, gemmPB
	if gemmWide() {
		t.nr, t.pb = wideNR, widePB
	}
	t.panels = (n + t.nr - 1) / t.nr
	t.blocks = (t.panels + t.pb - 1) / t.pb
	mBlocks := 1
	if want := 4 * Threads(); t.blocks < want {
		mBlocks = min(groups, (want+t.blocks-1)/t.blocks)
	}
	t.mb = ((m+mBlocks-1)/mBlocks + 3) &^ 3
	mBlocks = (m + t.mb - 1) / t.mb
	tasks := t.blocks * mBlocks
	if m*n*k < parallelMinWork {
		t.Run(0, tasks)
	} else {
		ParallelFor(tasks, 1, t)
	}
	*t = gemmTask{}
	gemmFree.put(t)
	scratchFree.put(as)
}

// packA writes A(i,t) to ap[((i/4)*k+t)*4+i%4], zero-padding the last group.
func packA(ap, a []float32, sai, sak, m, k int) {
	for g := 0; g*4 < m; g++ {
		dst := ap[g*4*k : (g+1)*4*k]
		rows := min(4, m-4*g)
		if rows < 4 {
			clear(dst)
		}
		if sak == 1 {
			// Rows of A are contiguous: interleave them.
			for r := 0; r < rows; r++ {
				src := a[(4*g+r)*sai : (4*g+r)*sai+k]
				for t, v := range src {
					dst[4*t+r] = v
				}
			}
			continue
		}
		for t := 0; t < k; t++ {
			base := 4*g*sai + t*sak
			for r := 0; r < rows; r++ {
				dst[4*t+r] = a[base+r*sai]
			}
		}
	}
}

// Run computes tasks [lo, hi): task p covers block p%blocks of C's columns
// (up to pb panels of nr) and row block p/blocks.
func (t *gemmTask) Run(lo, hi int) {
	kc, nr := t.kc, t.nr
	pl := kc * nr // floats per packed panel
	s := getScratch(t.pb*pl + 4*gemmNR)
	tile := s.buf[t.pb*pl:]
	for p := lo; p < hi; p++ {
		pb := p % t.blocks
		j0 := pb * t.pb * nr
		jw := min(t.pb*nr, t.n-j0)
		i0 := p / t.blocks * t.mb
		i1 := min(i0+t.mb, t.m)
		for k0 := 0; k0 < t.k; k0 += kc {
			kl := min(kc, t.k-k0)
			acc := t.accumulate || k0 > 0
			t.packB(s.buf, pl, k0, kl, j0, jw)
			for q := 0; q*nr < jw; q++ {
				panel := s.buf[q*pl : q*pl+kl*nr]
				jq := j0 + q*nr
				wq := min(nr, t.n-jq)
				for i := i0; i < i1; {
					ai := t.ap[(i*t.k + 4*k0):]
					if nr == wideNR && wq == wideNR && i+8 <= i1 {
						gemm8x48(t.c[i*t.ldc+jq:], t.ldc, ai, 4*t.k, panel, kl, acc)
						i += 8
						continue
					}
					// Four rows by 24 columns of the panel at a time.
					mr := min(4, i1-i)
					for h := 0; h < wq; h += gemmNR {
						hw := min(gemmNR, wq-h)
						if mr == 4 && hw == gemmNR {
							gemm4x24(t.c[i*t.ldc+jq+h:], t.ldc, ai, 1, 4, panel[h:], nr, kl, acc)
						} else {
							gemm4x24(tile, gemmNR, ai, 1, 4, panel[h:], nr, kl, false)
							t.addTile(tile, i, mr, jq+h, hw, acc)
						}
					}
					i += 4
				}
			}
		}
	}
	scratchFree.put(s)
}

// packB copies (converting f16) B[k0:k0+kl, j0:j0+jw] into consecutive
// panels of pl floats, each kl rows of nr, zero-padded: a panel is then one
// contiguous stream for the kernel, which keeps it in L1 whatever B's row
// stride. B is read row by row, jw columns at a time.
func (t *gemmTask) packB(dst []float32, pl, k0, kl, j0, jw int) {
	nr := t.nr
	if nr == gemmNR && jw == 4*gemmNR && t.pb == 4 {
		if t.half && packB4F16(dst, t.bh[k0*t.ldb+j0:], t.ldb, pl, kl) {
			return
		}
		if !t.half && packB4(dst, t.b[k0*t.ldb+j0:], t.ldb, pl, kl) {
			return
		}
	}
	for tt := 0; tt < kl; tt++ {
		src := (k0+tt)*t.ldb + j0
		for q := 0; q*nr < jw; q++ {
			w := min(nr, jw-q*nr)
			d := dst[q*pl+tt*nr : q*pl+(tt+1)*nr]
			if t.half {
				f16ToF32(d[:w], t.bh[src+q*nr:src+q*nr+w])
			} else {
				copy(d, t.b[src+q*nr:src+q*nr+w])
			}
			if w < nr {
				clear(d[w:])
			}
		}
	}
}

// addTile stores (acc: adds) the top-left mr×jw of a 4×24 tile into C at
// row i, column j0.
func (t *gemmTask) addTile(tile []float32, i, mr, j0, jw int, acc bool) {
	for r := 0; r < mr; r++ {
		dst := t.c[(i+r)*t.ldc+j0 : (i+r)*t.ldc+j0+jw]
		src := tile[r*gemmNR : r*gemmNR+jw]
		if acc {
			add(dst, dst, src)
		} else {
			copy(dst, src)
		}
	}
}
