//go:build amd64 && !noasm

package quant

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2 kernels of dot_amd64.s. F16C converts the scales.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasF16C

// The assembly kernels read nb blocks from each row and from x; nb > 0.
// The x4 kernels compute four rows that start stride bytes apart and write
// their four sums to out, prefetching pf bytes ahead of the rows.

//go:noescape
func dotQ8_0AVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ8_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32, pf int)

//go:noescape
func dotQ4_0AVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ4_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32, pf int)

// The x4x2 kernels run the x4 kernels' four rows against two activation
// rows, x and x+xstride, writing the first's sums to out[0:4] and the
// second's to out[4:8].

//go:noescape
func dotQ8_0x4x2AVX2(w *byte, stride int, x *byte, xstride, nb int, out *[8]float32, pf int)

//go:noescape
func dotQ4_0x4x2AVX2(w *byte, stride int, x *byte, xstride, nb int, out *[8]float32, pf int)

//go:noescape
func quantizeQ8_0AVX2(dst *byte, src *float32, nb int)

// prefetchAhead is the prefetch distance of an x4 kernel that has avail
// bytes of w after its four rows: 8 KiB, but never past the end of w (the
// lines an iteration prefetches reach up to 64 bytes beyond its stream).
// A prefetch outside the pages a process has touched costs a page walk
// every time and fetches nothing; on the 2-vCPU AMD EPYC test VM it made
// simd's 4-row kernel 68× slower over a 12 KiB panel.
func prefetchAhead(avail int) int { return max(0, min(8192, avail-64)) }

// quantizeQ8_0 needs nb > 0 and slices holding nb blocks.
func quantizeQ8_0(dst []byte, src []float32, nb int) {
	if !useAsm {
		quantizeQ8_0Generic(dst, src, nb)
		return
	}
	_, _ = dst[nb*Q8_0BlockBytes-1], src[nb*BlockSize-1]
	quantizeQ8_0AVX2(&dst[0], &src[0], nb)
}

// dotQ8_0 and dotQ4_0 need nb > 0 and slices holding nb blocks.
func dotQ8_0(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ8_0Generic(w, x, nb)
	}
	_, _ = w[nb*Q8_0BlockBytes-1], x[nb*Q8_0BlockBytes-1]
	return dotQ8_0AVX2(&w[0], &x[0], nb)
}

func dotQ4_0(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ4_0Generic(w, x, nb)
	}
	_, _ = w[nb*Q4_0BlockBytes-1], x[nb*Q8_0BlockBytes-1]
	return dotQ4_0AVX2(&w[0], &x[0], nb)
}

// rowsQ8_0 sets out[r] to the dot product of row r of w (rows rb bytes
// apart) with xq, for nb > 0 blocks.
func rowsQ8_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsQ8_0Generic(out, w, rb, xq, nb)
		return
	}
	checkRows(len(out), len(w), rb, nb*Q8_0BlockBytes, len(xq), nb)
	r := 0
	for ; r+4 <= len(out); r += 4 {
		dotQ8_0x4AVX2(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]), prefetchAhead(len(w)-(r+4)*rb))
	}
	for ; r < len(out); r++ {
		out[r] = dotQ8_0AVX2(&w[r*rb], &xq[0], nb)
	}
}

func rowsQ4_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsQ4_0Generic(out, w, rb, xq, nb)
		return
	}
	checkRows(len(out), len(w), rb, nb*Q4_0BlockBytes, len(xq), nb)
	r := 0
	for ; r+4 <= len(out); r += 4 {
		dotQ4_0x4AVX2(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]), prefetchAhead(len(w)-(r+4)*rb))
	}
	for ; r < len(out); r++ {
		out[r] = dotQ4_0AVX2(&w[r*rb], &xq[0], nb)
	}
}

// rowsQ8_0x2 and rowsQ4_0x2 are rowsQ8_0 and rowsQ4_0 for two activation
// rows at once: xq holds them xrb bytes apart, and the first's products go
// to out0, the second's to out1 (each len(out0) rows), with the same bits.
func rowsQ8_0x2(out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int) {
	rows2(false, out0, out1, w, rb, xq, xrb, nb)
}

func rowsQ4_0x2(out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int) {
	rows2(true, out0, out1, w, rb, xq, xrb, nb)
}

// rows2 calls the kernels directly, not through function values, which
// would move o to the heap.
func rows2(q4 bool, out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int) {
	rows, blockBytes := rowsQ8_0, Q8_0BlockBytes
	if q4 {
		rows, blockBytes = rowsQ4_0, Q4_0BlockBytes
	}
	n := len(out0)
	if !useAsm || len(out1) != n || n < 4 {
		rows(out0, w, rb, xq, nb)
		rows(out1, w, rb, xq[xrb:], nb)
		return
	}
	checkRows(n, len(w), rb, nb*blockBytes, len(xq)-xrb, nb)
	if xrb < nb*Q8_0BlockBytes {
		panic("quant: bad kernel arguments")
	}
	var o [8]float32
	r := 0
	for ; r+4 <= n; r += 4 {
		pf := prefetchAhead(len(w) - (r+4)*rb)
		if q4 {
			dotQ4_0x4x2AVX2(&w[r*rb], rb, &xq[0], xrb, nb, &o, pf)
		} else {
			dotQ8_0x4x2AVX2(&w[r*rb], rb, &xq[0], xrb, nb, &o, pf)
		}
		copy(out0[r:r+4], o[:4])
		copy(out1[r:r+4], o[4:])
	}
	if r < n {
		rows(out0[r:], w[r*rb:], rb, xq, nb)
		rows(out1[r:], w[r*rb:], rb, xq[xrb:], nb)
	}
}
