//go:build arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64

package simd

// These architectures have a fused float32 multiply-add, and Go compiles
// a*b + c to it (TestFMA32 checks the result against exact arithmetic), so
// the models' fused multiply-adds cost one instruction here.
const fusedFMA = true

// fma32 returns a·b + c rounded once.
func fma32(a, b, c float32) float32 { return a*b + c }
