//go:build !(arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64)

package simd

// No fused float32 multiply-add that Go emits (amd64 below GOAMD64=v3, 386,
// WebAssembly): the models emulate it exactly.
const fusedFMA = false

// fma32 returns a·b + c rounded once.
func fma32(a, b, c float32) float32 { return fma32Emulated(a, b, c) }
