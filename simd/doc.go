// Package simd holds the numeric kernels of Shear: vector operations,
// matrix-vector and matrix-matrix products over row-major weights, the
// transformer's element-wise ops, and float16 conversion.
//
// # Which kernels each build runs
//
//   - amd64 with AVX2 and FMA: hand-written assembly (kernels_amd64.s;
//     F16C for half precision). Where the CPU also has AVX-512F and VL
//     (chosen at run time), the forward products, the f16 matrix-vector
//     product and the backward products run 16-lane kernels
//     (kernels_avx512_amd64.s) that give the same bits as the AVX2 ones:
//     see the design notes.
//   - arm64 (Advanced SIMD, which every arm64 CPU has; golang.org/x/sys/cpu
//     checks it at init): NEON assembly for every kernel amd64 has in
//     assembly except the backward GEMM's B packing (a copy): in
//     kernels_arm64.s the products (f32 and f16 matrix-vector quads, the
//     3×4 prefill block, dot, f16 dot) and both fp16 conversions (FCVTL,
//     FCVTN); in kernels_nn_arm64.s sum, axpy, scale, add, mul, e^x, SiLU,
//     SwiGLU, softmax's e^(x−m) with its float64 sum, max, and the 4×24
//     backward block. NEON's FMLA/FMLS are fused like VFMADD231PS/VFNMADD231PS,
//     so an AVX2 register of eight lanes becomes two NEON registers and every
//     NEON kernel gives the AVX2 kernel's bits: no tolerance is needed
//     anywhere (TestMirror* hold them to the models bit for bit under
//     qemu-aarch64). RMSNorm, RoPE and the small-head attention loops, plain
//     Go on amd64, have NEON kernels too (nn_arm64.s) that give that Go's
//     bits (their models, nn_kernels.go, write products float32(a*b), so
//     that Go does not fuse them on arm64; the kernels use FMUL then FADD):
//     RMSNorm squares and widens four values at a time but keeps the
//     float64 sum a serial chain, RoPE rotates four pairs per step (LD2/ST2
//     for the interleaved layout), and the small-head score loop takes four
//     positions at once, one per lane, through 4×4 transposes, so each
//     score is still summed in head order. The large-head attention loops
//     (Dot and Axpy per position on amd64) are one NEON call each, with
//     dotNEON's and axpyNEON's bits. arm64 gives amd64's logits.
//   - -tags noasm, riscv64 and every other architecture without assembly:
//     the portable kernels, with the fast products of kernels_portable.go
//     (lane by lane, accumulators in registers, f16 by table). Their
//     multiply-adds are written a*b+c, which Go fuses where the hardware
//     has a fused multiply-add (arm64, riscv64, ppc64le, s390x, loong64):
//     there they give the AVX2 bits too. On amd64 (below GOAMD64=v3) and
//     386 each product is rounded before it is added, so results differ
//     from the AVX2 build's in the last bits (within the bound that
//     TestPortableMatchesModel checks).
//   - The pure-Go WebAssembly guest (wasip1 without shearhost): for the
//     prefill and f16 decode products the exact fast kernels of
//     kernels_exact.go (the portable layout, every fused multiply-add
//     emulated exactly in float64), elsewhere the exact models of
//     kernels_generic.go (fma32), since WebAssembly has no fused
//     multiply-add; so the guest reproduces native bits (wasm/host's
//     TestEnginesAgree, TestPruneSameBytes).
//   - The host-kernel WebAssembly guest (shearhost): the host's native
//     kernels, imported (kernels_wasmhost.go).
//
// The fp16 conversions are bit-identical to github.com/x448/float16 on every
// path.
//
// Heavy kernels split their work over a persistent worker pool
// (ParallelFor); nothing is allocated per call once the pool's free lists
// are warm. Results do not depend on the number of threads: each output is
// summed in the same order whichever worker computes it.
//
// # Design notes
//
// Weights are GGUF-shaped, one row per output feature, so the forward
// products are dot products along rows. MatVec and MatVecF16 (decode) are
// memory-bound: a kernel takes four consecutive rows, i.e. one contiguous
// stream, against one x, with several accumulators. The f16 kernel converts
// with VCVTPH2PS as it multiplies, which makes it busy enough that the
// hardware prefetcher falls behind; it prefetches 8 KiB ahead in software.
//
// MatMul and MatMulF16 (prefill) use a 3×4 register block: three x rows
// against four w rows, twelve 8-lane accumulators, reduced horizontally at
// the end. Cols are tiled when long; for each tile, a quad of w rows is
// copied (or converted from f16) into a per-chunk scratch buffer that stays
// in L1 while every triple of x rows of the block, held in L2, streams past.
//
// The backward products are plain products C (+)= A·B and share one
// driver: A is packed once into groups of four rows, B a few 24-column
// panels at a time, and a 4×24 register block accumulates over a tile of
// the shared dimension.
//
// The AVX-512 kernels keep the AVX2 bits (TestMirrorWide*), so the mirror
// tests and the WebAssembly guest's exact models hold for them unchanged.
// The forward kernel (6×8) keeps one 8-lane accumulator per output: a
// 16-lane register holds those of two w rows, against x's eight columns
// broadcast to both halves, over a w panel packed for it (rows p and p+4
// side by side), and its reduction is HSUM4's. The last n%3 x rows, which
// the AVX2 driver gives to kern1x4 (two accumulators per row, even and odd
// eights), get that order from the same panel. The f16 matrix-vector
// kernel takes eight rows; kern1x4F16's two accumulators of a row are the
// halves of one register. In the backward products every output is a
// chain of fused multiply-adds over the shared dimension whatever the
// register tile, so the 8×48 kernel gives the 4×24 bits on 48-column
// panels. On the AMD EPYC (Zen 5) this was written on, the 16-lane FMA
// peak of one thread is twice the 8-lane one (FMAPeakLanes: ~224 vs ~112
// GFLOP/s), while two threads reach ~225 at either width.
//
// The element-wise ops follow llama.cpp's CPU order of operations
// (RMSNorm's float64 sum of squares, Softmax's float64 sum, SiLU as
// x/(1+e^-x), RoPE's float32 angle recurrence) so that Shear's outputs
// track llama.cpp's closely. Like llama.cpp's AVX2 build, e^x is a
// vectorised polynomial (within 1 ulp of the correctly rounded value in the
// tests).
//
// # vek
//
// The design names github.com/viterin/vek as the SIMD layer. Each kernel
// that vek has an equivalent of was timed against Shear's own at the
// runtime's sizes, alternating in one run (BenchmarkVekVsShear; ns per
// call, best of seven rounds each, on the project's 2-core AVX2 machine
// under a load average of ~20 from other jobs, so only large ratios mean
// anything):
//
//	kernel   size    Shear ns   vek ns   vek÷Shear   choice
//	dot      768       58.7      56.3      0.96      Shear (bits, below)
//	dot      32000   3696      3680        1.00      Shear (bits)
//	sum      768       40.0      36.8      0.92      Shear (bits)
//	sum      32000   1789      1795        1.00      Shear (bits)
//	add      2048     188      3066       16.3       Shear
//	add      32000   4454      7707        1.73      Shear
//	mul      32000   4549     26363        5.80      Shear
//	scale    32000   5203      5540        1.06      Shear
//	argmax   32000  176634     2584        0.015     Shear (semantics, below)
//	matmul   64×768×2048  6.8 ms  122 ms  17.9       Shear
//
// vek is not called anywhere in the runtime:
//   - dot and sum tie (within 5%), but vek adds in its own order, so its
//     bits differ from the portable kernels'; the wasm guests and the
//     native build must give the same bits (wasm/host TestEnginesAgree),
//     so the kernels whose bits depend on the order stay Shear's.
//   - add, mul and scale are element-wise (same bits in any order); there
//     Shear's assembly is as fast or faster.
//   - vek32.ArgMax is 10–70× faster than Shear's scalar Argmax, but it
//     returns -1 for a vector of -Inf and treats NaN differently (Shear's
//     contract: the first largest; NaN wins only at index 0), so it is not
//     a drop-in; a vectorised Argmax of Shear's own is the follow-up.
//   - vek32.MatMul is ~18× slower than the register-blocked GEMM.
//
// The models (kernels_generic.go) are exact models of the amd64 assembly:
// same lanes, same order of additions, fused multiply-adds emulated exactly
// (fma32), the same polynomial. TestMirror* compare each assembly kernel
// (AVX2 on amd64, NEON on arm64) with its model bit for bit. Exp64 and Log64
// are portable float64 functions for the same reason.
//
// # Goroutines
//
// Every kernel may be called from any number of goroutines at once, on
// outputs that do not overlap; inputs may be shared. The products spread
// their rows over one process-wide pool of SetThreads−1 helper goroutines
// (ParallelFor): one call at a time uses the pool, a call made while it is
// busy (from another goroutine, or from inside a task) runs on its caller,
// so concurrent callers never wait for each other and get the bits a
// serial call gives. Task values and scratch buffers are recycled through
// locked free lists. SetThreads must be called before the first product.
// Tests: TestConcurrentCallers, TestPoolHandOffStress,
// TestParallelForLateSignals and TestParallelForPanicWaitsForHelpers, under
// the race detector in make test-race.
package simd
