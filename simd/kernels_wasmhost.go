//go:build wasip1 && shearhost

package simd

import (
	"fmt"
	"unsafe"
)

// The host-kernel build of the WebAssembly guest (wasm/host/shear-host.wasm,
// built with -tags shearhost). The matrix products, the fp16 conversions
// and the vector kernels that have an assembly path are imported from the
// module "shear_kernels": the host runs its native kernels on views of the
// guest's linear memory, so the heavy work runs at native speed and gives
// the native bits. This file replaces kernels_other.go, matmul.go, fp16.go
// and backward.go in that build; the rest of the package (RMSNorm, RoPE,
// the pool, which runs inline here) is shared.
//
// Arguments are addresses in linear memory and element counts. The checks
// below are the same as the native ones, so a call the host receives always
// names memory the guest owns; the host validates the ranges again and
// calls the same public kernel, so edge cases (zero sizes) behave alike.

//go:wasmimport shear_kernels matvec
func hostMatVec(out, w, x unsafe.Pointer, rows, cols uint32)

//go:wasmimport shear_kernels matvec_f16
func hostMatVecF16(out, w, x unsafe.Pointer, rows, cols uint32)

//go:wasmimport shear_kernels matmul
func hostMatMul(out, x, w unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels matmul_f16
func hostMatMulF16(out, x, w unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels matmul_back_in
func hostMatMulBackIn(dx, dy, w unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels matmul_back_in_f16
func hostMatMulBackInF16(dx, dy, w unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels matmul_back_w
func hostMatMulBackW(dw, dy, x unsafe.Pointer, n, rows, cols uint32)

//go:wasmimport shear_kernels f16_to_f32
func hostF16ToF32(dst, src unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels f32_to_f16
func hostF32ToF16(dst, src unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels dot
func hostDot(x, y unsafe.Pointer, n uint32) float32

//go:wasmimport shear_kernels sum
func hostSum(x unsafe.Pointer, n uint32) float32

//go:wasmimport shear_kernels axpy
func hostAxpy(a float32, x, y unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels scale
func hostScale(a float32, x unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels add
func hostAdd(dst, x, y unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels mul
func hostMul(dst, x, y unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels silu
func hostSiLU(dst, x unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels swiglu
func hostSwiGLU(dst, g, u unsafe.Pointer, n uint32)

//go:wasmimport shear_kernels attention
func hostAttention(out, q, k, v, scores unsafe.Pointer, n, pos, heads, kvHeads, headDim, ctx uint32)

//go:wasmimport shear_kernels argmax
func hostArgmax(x unsafe.Pointer, n uint32) uint32

//go:wasmimport shear_kernels exp_sub
func hostExpSub(x unsafe.Pointer, n uint32, m float32) float64

// hostMinConvert is the shortest fp16 conversion worth a host call;
// shorter ones run here (both paths are bit-identical).
const hostMinConvert = 64

// hostMinVec is the shortest vector the element-wise kernels send to the
// host. Below it the native build runs the portable code too, so results
// are bit-identical to native either way; dot and sum go to the host at
// any length because their native kernels do.
const hostMinVec = 8

// This build replaces kernels_other.go: the flags exist so that tests can
// name them; the vector kernels below run natively on the host.
var (
	useAsm  = false
	useF16C = false
)

func dot(x, y []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return hostDot(ptr(x), ptr(y), uint32(len(x)))
}

func sum(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return hostSum(ptr(x), uint32(len(x)))
}

func axpy(a float32, x, y []float32) {
	if len(x) < hostMinVec {
		axpyGeneric(a, x, y)
		return
	}
	_ = y[len(x)-1]
	hostAxpy(a, ptr(x), ptr(y), uint32(len(x)))
}

func scale(a float32, x []float32) {
	if len(x) < hostMinVec {
		scaleGeneric(a, x)
		return
	}
	hostScale(a, ptr(x), uint32(len(x)))
}

func add(dst, x, y []float32) {
	if len(x) < hostMinVec {
		addGeneric(dst, x, y)
		return
	}
	_, _ = dst[len(x)-1], y[len(x)-1]
	hostAdd(ptr(dst), ptr(x), ptr(y), uint32(len(x)))
}

func mul(dst, x, y []float32) {
	if len(x) < hostMinVec {
		mulGeneric(dst, x, y)
		return
	}
	_, _ = dst[len(x)-1], y[len(x)-1]
	hostMul(ptr(dst), ptr(x), ptr(y), uint32(len(x)))
}

func siluVec(dst, x []float32) {
	if len(x) < hostMinVec {
		siluGeneric(dst, x)
		return
	}
	_ = dst[len(x)-1]
	hostSiLU(ptr(dst), ptr(x), uint32(len(x)))
}

func swigluVec(dst, g, u []float32) {
	if len(g) < hostMinVec {
		swigluGeneric(dst, g, u)
		return
	}
	_, _ = dst[len(g)-1], u[len(g)-1]
	hostSwiGLU(ptr(dst), ptr(g), ptr(u), uint32(len(g)))
}

func argmax(x []float32) int {
	if len(x) < hostMinVec {
		return argmaxGeneric(x)
	}
	return int(hostArgmax(ptr(x), uint32(len(x))))
}

func expSub(x []float32, m float32) float64 {
	if len(x) < hostMinVec {
		return expSubGeneric(x, m)
	}
	return hostExpSub(ptr(x), uint32(len(x)), m)
}

// The rest runs here: maxOf's result does not depend on the order of
// comparison, f16 conversions are exact on both paths, and the matrix
// kernels are only used by the drivers this build leaves out.

func maxOf(x []float32) float32              { return maxGeneric(x) }
func expVec(dst, x []float32)                { expGeneric(dst, x) }
func f16ToF32(dst []float32, src []uint16)   { f16ToF32Generic(dst, src) }
func f32ToF16(dst []uint16, src []float32)   { f32ToF16Generic(dst, src) }
func dotF16(x []float32, w []uint16) float32 { return dotF16Generic(x, w) }
func kern1x4(out, x, w []float32, ldw, k int, acc bool) {
	kern1x4Generic(out, x, w, ldw, k, acc)
}

func kern3x4(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	kern3x4Generic(out, ldo, x, ldx, w, ldw, k, acc)
}

func kern1x4F16(out, x []float32, w []uint16, ldw, k int) {
	kern1x4F16Generic(out, x, w, ldw, k)
}

func gemm4x24(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	gemm4x24Generic(c, ldc, a, sai, sak, b, ldb, k, acc)
}

func packB4(dst, src []float32, ldb, pl, rows int) bool             { return false }
func packB4F16(dst []float32, src []uint16, ldb, pl, rows int) bool { return false }

func ptr[T any](s []T) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }

// The checks of matmul.go, which this build leaves out.

func checkMat(op string, name string, have, need int) {
	if have < need {
		panicMat(op, name, have, need)
	}
}

//go:noinline
func panicMat(op string, name string, have, need int) {
	panic(fmt.Sprintf("simd.%s: len(%s) = %d, need at least %d", op, name, have, need))
}

func checkDims(op string, n, rows, cols int) {
	if n < 0 || rows < 0 || cols < 0 || n > 1<<31 || rows > 1<<31 || cols > 1<<31 {
		panicDims(op, n, rows, cols)
	}
}

//go:noinline
func panicDims(op string, n, rows, cols int) {
	panic(fmt.Sprintf("simd.%s: dimension out of range in (%d, %d, %d)", op, n, rows, cols))
}

// MatVec computes out[r] = Σ_c w[r*cols+c]*x[c] for r < rows (on the host).
func MatVec(out, w, x []float32, rows, cols int) {
	checkDims("MatVec", 1, rows, cols)
	checkMat("MatVec", "out", len(out), rows)
	checkMat("MatVec", "w", len(w), rows*cols)
	checkMat("MatVec", "x", len(x), cols)
	hostMatVec(ptr(out), ptr(w), ptr(x), uint32(rows), uint32(cols))
}

// MatVecF16 is MatVec with IEEE half-precision weights (on the host).
func MatVecF16(out []float32, w []uint16, x []float32, rows, cols int) {
	checkDims("MatVecF16", 1, rows, cols)
	checkMat("MatVecF16", "out", len(out), rows)
	checkMat("MatVecF16", "w", len(w), rows*cols)
	checkMat("MatVecF16", "x", len(x), cols)
	hostMatVecF16(ptr(out), ptr(w), ptr(x), uint32(rows), uint32(cols))
}

// MatMul computes out[n×rows] = x[n×cols]·wᵀ (on the host).
func MatMul(out, x, w []float32, n, rows, cols int) {
	checkDims("MatMul", n, rows, cols)
	checkMat("MatMul", "out", len(out), n*rows)
	checkMat("MatMul", "x", len(x), n*cols)
	checkMat("MatMul", "w", len(w), rows*cols)
	hostMatMul(ptr(out), ptr(x), ptr(w), uint32(n), uint32(rows), uint32(cols))
}

// MatMulF16 is MatMul with IEEE half-precision weights (on the host).
func MatMulF16(out, x []float32, w []uint16, n, rows, cols int) {
	checkDims("MatMulF16", n, rows, cols)
	checkMat("MatMulF16", "out", len(out), n*rows)
	checkMat("MatMulF16", "x", len(x), n*cols)
	checkMat("MatMulF16", "w", len(w), rows*cols)
	hostMatMulF16(ptr(out), ptr(x), ptr(w), uint32(n), uint32(rows), uint32(cols))
}

// MatMulBackIn computes dx[n×cols] = dy[n×rows]·w (on the host).
func MatMulBackIn(dx, dy, w []float32, n, rows, cols int) {
	checkDims("MatMulBackIn", n, rows, cols)
	checkMat("MatMulBackIn", "dx", len(dx), n*cols)
	checkMat("MatMulBackIn", "dy", len(dy), n*rows)
	checkMat("MatMulBackIn", "w", len(w), rows*cols)
	hostMatMulBackIn(ptr(dx), ptr(dy), ptr(w), uint32(n), uint32(rows), uint32(cols))
}

// MatMulBackInF16 is MatMulBackIn with half-precision weights (on the host).
func MatMulBackInF16(dx, dy []float32, w []uint16, n, rows, cols int) {
	checkDims("MatMulBackInF16", n, rows, cols)
	checkMat("MatMulBackInF16", "dx", len(dx), n*cols)
	checkMat("MatMulBackInF16", "dy", len(dy), n*rows)
	checkMat("MatMulBackInF16", "w", len(w), rows*cols)
	hostMatMulBackInF16(ptr(dx), ptr(dy), ptr(w), uint32(n), uint32(rows), uint32(cols))
}

// MatMulBackW accumulates dw[rows×cols] += dyᵀ·x (on the host).
func MatMulBackW(dw, dy, x []float32, n, rows, cols int) {
	checkDims("MatMulBackW", n, rows, cols)
	checkMat("MatMulBackW", "dw", len(dw), rows*cols)
	checkMat("MatMulBackW", "dy", len(dy), n*rows)
	checkMat("MatMulBackW", "x", len(x), n*cols)
	hostMatMulBackW(ptr(dw), ptr(dy), ptr(x), uint32(n), uint32(rows), uint32(cols))
}

// F16ToF32 converts IEEE half-precision values (as bits) to float32.
// len(dst) must equal len(src).
func F16ToF32(dst []float32, src []uint16) {
	checkLen("F16ToF32", len(src), len(dst))
	if len(src) < hostMinConvert {
		f16ToF32(dst, src)
		return
	}
	hostF16ToF32(ptr(dst), ptr(src), uint32(len(src)))
}

// F32ToF16 converts float32 values to IEEE half precision (as bits),
// rounding to nearest even. len(dst) must equal len(src).
func F32ToF16(dst []uint16, src []float32) {
	checkLen("F32ToF16", len(src), len(dst))
	if len(src) < hostMinConvert {
		f32ToF16(dst, src)
		return
	}
	hostF32ToF16(ptr(dst), ptr(src), uint32(len(src)))
}

// attention runs a layer's whole attention in one host call (the host
// runs it on its threads); Attention has checked the sizes.
func attention(out, q, kCache, vCache, scores []float32, n, pos, heads, kvHeads, headDim, ctx int) {
	hostAttention(ptr(out), ptr(q), ptr(kCache), ptr(vCache), ptr(scores),
		uint32(n), uint32(pos), uint32(heads), uint32(kvHeads), uint32(headDim), uint32(ctx))
}
