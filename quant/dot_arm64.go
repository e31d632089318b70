//go:build arm64 && !noasm

package quant

import "golang.org/x/sys/cpu"

// useAsm selects the NEON dot kernels of dot_arm64.s; useSDOT their
// dot-product-extension (ASIMDDP) variants. The Q8_0 quantizer stays the
// portable one.
var (
	useAsm  = cpu.ARM64.HasASIMD
	useSDOT = cpu.ARM64.HasASIMDDP
)

// The kernels read nb > 0 blocks from w and from x.

//go:noescape
func dotQ8_0SDOT(w, x *byte, nb int) float32

//go:noescape
func dotQ8_0NEON(w, x *byte, nb int) float32

//go:noescape
func dotQ4_0SDOT(w, x *byte, nb int) float32

//go:noescape
func dotQ4_0NEON(w, x *byte, nb int) float32

// The x4 kernels compute four rows that start stride bytes apart and write
// their four sums to out.

//go:noescape
func dotQ8_0x4SDOT(w *byte, stride int, x *byte, nb int, out *[4]float32)

//go:noescape
func dotQ8_0x4NEON(w *byte, stride int, x *byte, nb int, out *[4]float32)

//go:noescape
func dotQ4_0x4SDOT(w *byte, stride int, x *byte, nb int, out *[4]float32)

//go:noescape
func dotQ4_0x4NEON(w *byte, stride int, x *byte, nb int, out *[4]float32)

func quantizeQ8_0(dst []byte, src []float32, nb int) { quantizeQ8_0Generic(dst, src, nb) }

// dotQ8_0 and dotQ4_0 need nb > 0 and slices holding nb blocks.
func dotQ8_0(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ8_0Generic(w, x, nb)
	}
	_, _ = w[nb*Q8_0BlockBytes-1], x[nb*Q8_0BlockBytes-1]
	if useSDOT {
		return dotQ8_0SDOT(&w[0], &x[0], nb)
	}
	return dotQ8_0NEON(&w[0], &x[0], nb)
}

func dotQ4_0(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ4_0Generic(w, x, nb)
	}
	_, _ = w[nb*Q4_0BlockBytes-1], x[nb*Q8_0BlockBytes-1]
	if useSDOT {
		return dotQ4_0SDOT(&w[0], &x[0], nb)
	}
	return dotQ4_0NEON(&w[0], &x[0], nb)
}

// rowsQ8_0 sets out[r] to the dot product of row r of w (rows rb bytes
// apart) with xq, for nb > 0 blocks: four rows at a time, then one.
func rowsQ8_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsQ8_0Generic(out, w, rb, xq, nb)
		return
	}
	checkRows(len(out), len(w), rb, nb*Q8_0BlockBytes, len(xq), nb)
	x4 := dotQ8_0x4NEON
	if useSDOT {
		x4 = dotQ8_0x4SDOT
	}
	r := 0
	for ; r+4 <= len(out); r += 4 {
		x4(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]))
	}
	for ; r < len(out); r++ {
		out[r] = dotQ8_0(w[r*rb:], xq, nb)
	}
}

func rowsQ4_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsQ4_0Generic(out, w, rb, xq, nb)
		return
	}
	checkRows(len(out), len(w), rb, nb*Q4_0BlockBytes, len(xq), nb)
	x4 := dotQ4_0x4NEON
	if useSDOT {
		x4 = dotQ4_0x4SDOT
	}
	r := 0
	for ; r+4 <= len(out); r += 4 {
		x4(&w[r*rb], rb, &xq[0], nb, (*[4]float32)(out[r:]))
	}
	for ; r < len(out); r++ {
		out[r] = dotQ4_0(w[r*rb:], xq, nb)
	}
}
