//go:build wasip1 && !shearhost

package simd

// The pure WebAssembly guest must give native bits, and WebAssembly has no
// fused multiply-add, so the fast portable products would round twice
// here: the prefill and f16 decode products are the exact fast kernels
// (kernels_exact.go, the portable layout with emulated fused
// multiply-adds), the rest the exact models of the amd64 kernels
// (kernels_generic.go).

// No assembly here. The flags exist so that tests can name them on every
// platform.
var (
	useAsm  = false
	useF16C = false
)

func f16ToF32(dst []float32, src []uint16)   { f16ToF32Generic(dst, src) }
func dotF16(x []float32, w []uint16) float32 { return dotF16Generic(x, w) }
func dot(x, y []float32) float32             { return dotGeneric(x, y) }

func kern1x4(out, x, w []float32, ldw, k int, acc bool) {
	kern1x4Generic(out, x, w, ldw, k, acc)
}

func kern3x4(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	kern3x4Exact(out, ldo, x, ldx, w, ldw, k, acc)
}

func kern1x4F16(out, x []float32, w []uint16, ldw, k int) {
	kern1x4F16Exact(out, x, w, ldw, k)
}
