//go:build amd64 && !noasm

package quant

// The K-quant kernels of kquant_amd64.s: rows rows of w, rb bytes apart,
// each against the same nb Q8_K super-blocks of x; rows > 0, nb > 0.

//go:noescape
func rowsQ4_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)

//go:noescape
func rowsQ6_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)

func dotQ4_K(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ4_KGeneric(w, x, nb)
	}
	var out [1]float32
	rowsQ4_K(out[:], w, nb*Q4_KBlockBytes, x, nb)
	return out[0]
}

func dotQ6_K(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ6_KGeneric(w, x, nb)
	}
	var out [1]float32
	rowsQ6_K(out[:], w, nb*Q6_KBlockBytes, x, nb)
	return out[0]
}

// rowsQ4_K, rowsQ5_K and rowsQ6_K set out[r] to the dot product of row r of
// w (rows rb bytes apart) with the Q8_K activations xq, for nb > 0
// super-blocks.
func rowsQ4_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsKGeneric(dotQ4_KGeneric, out, w, rb, xq, nb)
		return
	}
	checkRowsK(len(out), len(w), rb, nb*Q4_KBlockBytes, len(xq), nb)
	if len(out) > 0 {
		rowsQ4_KAVX2(&out[0], &w[0], rb, &xq[0], nb, len(out))
	}
}

func rowsQ5_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ5_KGeneric, out, w, rb, xq, nb)
}

func rowsQ6_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	if !useAsm {
		rowsKGeneric(dotQ6_KGeneric, out, w, rb, xq, nb)
		return
	}
	checkRowsK(len(out), len(w), rb, nb*Q6_KBlockBytes, len(xq), nb)
	if len(out) > 0 {
		rowsQ6_KAVX2(&out[0], &w[0], rb, &xq[0], nb, len(out))
	}
}

// checkRowsK guards the assembly against short slices: it reads the first
// rowBytes of each of rows rows of w and nb Q8_K super-blocks of xq.
func checkRowsK(rows, lenW, rb, rowBytes, lenXq, nb int) {
	if nb <= 0 || rb < rowBytes || (rows > 0 && lenW < (rows-1)*rb+rowBytes) || lenXq < nb*Q8_KBlockBytes {
		panic("quant: bad kernel arguments")
	}
}
