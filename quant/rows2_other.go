//go:build !amd64 || noasm

package quant

// rowsQ8_0x2 and rowsQ4_0x2 are rowsQ8_0 and rowsQ4_0 for two activation
// rows xrb bytes apart in xq (see dot_amd64.go): here, one after the other.
func rowsQ8_0x2(out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int) {
	rowsQ8_0(out0, w, rb, xq, nb)
	rowsQ8_0(out1, w, rb, xq[xrb:], nb)
}

func rowsQ4_0x2(out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int) {
	rowsQ4_0(out0, w, rb, xq, nb)
	rowsQ4_0(out1, w, rb, xq[xrb:], nb)
}
