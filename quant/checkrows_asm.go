//go:build (amd64 || arm64) && !noasm

package quant

// checkRows guards the assembly against short slices: it reads rows×rowBytes
// of w and nb Q8_0 blocks of xq.
func checkRows(rows, lenW, rb, rowBytes, lenXq, nb int) {
	if nb <= 0 || rb < rowBytes || lenW < rows*rb || lenXq < nb*Q8_0BlockBytes {
		panic("quant: bad kernel arguments")
	}
}
