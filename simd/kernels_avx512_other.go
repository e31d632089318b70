//go:build (!amd64 || noasm) && !(wasip1 && shearhost)

package simd

// Builds without the AVX-512 forward-product kernel
// (kernels_avx512_amd64.go): no w rows are done by it.

func (t *matMulTask) wideRows(r0, r1, i0, i1, k0, kl int, acc bool, buf []float32) int {
	return r0
}

func (t *matMulTask) wide(kl int) bool { return false }

func wideScratch(kl int) int { return 0 }

func (t *matVecTask) matVec8F16(r int) bool { return false }

func gemmWide() bool { return false }

// gemm8x48 is never called here: gemmWide is false.
func gemm8x48(c []float32, ldc int, a []float32, ga int, b []float32, k int, acc bool) {
	panic("simd: no AVX-512 kernel in this build")
}
