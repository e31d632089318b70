//go:build wasip1 && shearhost

package quant

import "unsafe"

// The host-kernel build of the WebAssembly guest (-tags shearhost): the
// quantized products are imported from "shear_kernels" and run by the
// host's native kernels on views of guest memory (see simd's
// kernels_wasmhost.go). matvec.go is left out of this build.

//go:wasmimport shear_kernels matmul_q8_0
func hostMatMulQ8_0(out, x, w, xq unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels matmul_q4_0
func hostMatMulQ4_0(out, x, w, xq unsafe.Pointer, n, rows, cols uint32)

// MatVecQ8_0 computes out[r] = w[r]·x for rows×cols Q8_0 weights w; xq is
// scratch of at least RowBytesQ8_0(cols) bytes.
func MatVecQ8_0(out []float32, w []byte, x []float32, rows, cols int, xq []byte) {
	hostMatMul(false, out, x, w, 1, rows, cols, xq)
}

// MatVecQ4_0 is MatVecQ8_0 for Q4_0 weights.
func MatVecQ4_0(out []float32, w []byte, x []float32, rows, cols int, xq []byte) {
	hostMatMul(true, out, x, w, 1, rows, cols, xq)
}

// MatMulQ8_0 computes out[n×rows] = x[n×cols]·wᵀ for Q8_0 weights; xq is
// scratch of at least n·RowBytesQ8_0(cols) bytes.
func MatMulQ8_0(out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	hostMatMul(false, out, x, w, n, rows, cols, xq)
}

// MatMulQ4_0 is MatMulQ8_0 for Q4_0 weights.
func MatMulQ4_0(out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	hostMatMul(true, out, x, w, n, rows, cols, xq)
}

func hostMatMul(q4 bool, out, x []float32, w []byte, n, rows, cols int, xq []byte) {
	checkCols(cols)
	if n < 0 || rows < 0 || n > 1<<31 || rows > 1<<31 || cols > 1<<31 {
		panic("quant: matrix size out of range")
	}
	rb := RowBytesQ8_0(cols)
	if q4 {
		rb = RowBytesQ4_0(cols)
	}
	checkLen("out", len(out), n*rows)
	checkLen("x", len(x), n*cols)
	checkLen("w", len(w), rows*rb)
	checkLen("xq", len(xq), n*RowBytesQ8_0(cols))
	p := func(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
	o, xp := unsafe.Pointer(unsafe.SliceData(out)), unsafe.Pointer(unsafe.SliceData(x))
	if q4 {
		hostMatMulQ4_0(o, xp, p(w), p(xq), uint32(n), uint32(rows), uint32(cols))
	} else {
		hostMatMulQ8_0(o, xp, p(w), p(xq), uint32(n), uint32(rows), uint32(cols))
	}
}
