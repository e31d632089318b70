//go:build ((!amd64 && !arm64) || noasm) && !(wasip1 && shearhost)

package simd

// The element-wise kernels without assembly (every build but amd64's and
// arm64's, and their noasm) are the portable ones. The products, the f16
// conversion and the flags useAsm, useF16C are chosen per build:
// kernels_fast.go natively without assembly, kernels_wasm.go in the pure
// WebAssembly guest.

func sum(x []float32) float32              { return sumGeneric(x) }
func axpy(a float32, x, y []float32)       { axpyGeneric(a, x, y) }
func scale(a float32, x []float32)         { scaleGeneric(a, x) }
func add(dst, x, y []float32)              { addGeneric(dst, x, y) }
func mul(dst, x, y []float32)              { mulGeneric(dst, x, y) }
func f32ToF16(dst []uint16, src []float32) { f32ToF16Generic(dst, src) }

func gemm4x24(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	gemm4x24Generic(c, ldc, a, sai, sak, b, ldb, k, acc)
}

func expVec(dst, x []float32)               { expGeneric(dst, x) }
func siluVec(dst, x []float32)              { siluGeneric(dst, x) }
func swigluVec(dst, g, u []float32)         { swigluGeneric(dst, g, u) }
func expSub(x []float32, m float32) float64 { return expSubGeneric(x, m) }
func maxOf(x []float32) float32             { return maxGeneric(x) }
func argmax(x []float32) int                { return argmaxGeneric(x) }

func packB4(dst, src []float32, ldb, pl, rows int) bool             { return false }
func packB4F16(dst []float32, src []uint16, ldb, pl, rows int) bool { return false }
