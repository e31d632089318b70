// Package simd holds the numeric kernels of Shear: vector operations,
// matrix-vector and matrix-matrix products over row-major weights, the
// transformer's element-wise ops, and float16 conversion.
//
// On amd64 with AVX2 and FMA the kernels run on vek and hand-written
// assembly; everywhere else (arm64, riscv64, wasm, or the noasm build tag)
// they run on a portable, unrolled pure-Go path. Both paths are tested
// against a float64 reference and against each other.
//
// Heavy kernels split their work over a persistent worker pool
// (ParallelFor); nothing is allocated per call.
package simd
