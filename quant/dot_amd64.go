//go:build amd64 && !noasm

package quant

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2 kernels of dot_amd64.s. F16C converts the scales.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasF16C

// The assembly kernels read nb blocks from each row and from x; nb > 0.
// The x4 kernels compute four rows that start stride bytes apart and write
// their four sums to out.

//go:noescape
func dotQ8_0AVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ8_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32)

//go:noescape
func dotQ4_0AVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ4_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32)

//go:noescape
func quantizeQ8_0AVX2(dst *byte, src *float32, nb int)

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
		dotQ8_0x4AVX2(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]))
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
		dotQ4_0x4AVX2(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]))
	}
	for ; r < len(out); r++ {
		out[r] = dotQ4_0AVX2(&w[r*rb], &xq[0], nb)
	}
}
