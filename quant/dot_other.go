//go:build (!amd64 && !arm64) || noasm

package quant

// useAsm is false: there are no assembly kernels on this platform or build.
var useAsm = false

func quantizeQ8_0(dst []byte, src []float32, nb int) { quantizeQ8_0Generic(dst, src, nb) }

func dotQ8_0(w, x []byte, nb int) float32 { return dotQ8_0Generic(w, x, nb) }

func dotQ4_0(w, x []byte, nb int) float32 { return dotQ4_0Generic(w, x, nb) }

func rowsQ8_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsQ8_0Generic(out, w, rb, xq, nb)
}

func rowsQ4_0(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsQ4_0Generic(out, w, rb, xq, nb)
}
