//go:build (!amd64 && !arm64) || noasm

package quant

// The K-quant products without assembly: the portable code, which the AVX2
// and NEON kernels match bit for bit.

func dotQ4_K(w, x []byte, nb int) float32 { return dotQ4_KGeneric(w, x, nb) }

func dotQ6_K(w, x []byte, nb int) float32 { return dotQ6_KGeneric(w, x, nb) }

func rowsQ4_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ4_KGeneric, out, w, rb, xq, nb)
}

func rowsQ5_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ5_KGeneric, out, w, rb, xq, nb)
}

func rowsQ6_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ6_KGeneric, out, w, rb, xq, nb)
}
