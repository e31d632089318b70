//go:build amd64 && !noasm

package quant

// The K-quant kernels of kquant_amd64.s: rows rows of w, rb bytes apart,
// each against the same nb Q8_K super-blocks of x; rows > 0, nb > 0.

//go:noescape
func rowsQ4_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)

//go:noescape
func rowsQ5_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)

//go:noescape
func rowsQ6_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)

func dotQ4_K(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ4_KGeneric(w, x, nb)
	}
	_, _ = w[nb*Q4_KBlockBytes-1], x[nb*Q8_KBlockBytes-1]
	var out float32 // a direct call, so that out stays on the stack
	rowsQ4_KAVX2(&out, &w[0], 0, &x[0], nb, 1)
	return out
}

func dotQ6_K(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ6_KGeneric(w, x, nb)
	}
	_, _ = w[nb*Q6_KBlockBytes-1], x[nb*Q8_KBlockBytes-1]
	var out float32 // a direct call, so that out stays on the stack
	rowsQ6_KAVX2(&out, &w[0], 0, &x[0], nb, 1)
	return out
}

// rowsQ4_K, rowsQ5_K and rowsQ6_K set out[r] to the dot product of row r of
// w (rows rb bytes apart) with the Q8_K activations xq, for nb > 0
// super-blocks.
func rowsQ4_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsK(rowsQ4_KAVX2, dotQ4_KGeneric, Q4_KBlockBytes, out, w, rb, xq, nb)
}

func rowsQ5_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsK(rowsQ5_KAVX2, dotQ5_KGeneric, Q5_KBlockBytes, out, w, rb, xq, nb)
}

func rowsQ6_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsK(rowsQ6_KAVX2, dotQ6_KGeneric, Q6_KBlockBytes, out, w, rb, xq, nb)
}

// rowsK runs the assembly kernel asm, or the portable dot kernel generic
// without AVX2, after checking that the slices hold what asm reads: the
// first nb·blockBytes bytes of each of len(out) rows of w and nb Q8_K
// super-blocks of xq.
func rowsK(asm func(out *float32, w *byte, rb int, x *byte, nb, rows int), generic func(w, x []byte, nb int) float32,
	blockBytes int, out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsKGeneric(generic, out, w, rb, xq, nb)
		return
	}
	rows := len(out)
	if nb <= 0 || rb < nb*blockBytes || (rows > 0 && len(w) < (rows-1)*rb+nb*blockBytes) || len(xq) < nb*Q8_KBlockBytes {
		panic("quant: bad kernel arguments")
	}
	if rows > 0 {
		asm(&out[0], &w[0], rb, &xq[0], nb, rows)
	}
}
