//go:build amd64 && !noasm

#include "textflag.h"


// AVX2 + FMA (+ F16C) kernels. Go ABI0: arguments on the stack.
// Register use follows one pattern throughout: SI/DI walk the inputs,
// Y0..Y11 are accumulators, Y12..Y15 hold loaded operands.
//
// The masked tails use maskTab: eight -1 words followed by eight 0 words;
// loading 8 words at maskTab+4*(8-t) gives a mask of t leading lanes.

DATA maskTab<>+0(SB)/8, $0xffffffffffffffff
DATA maskTab<>+8(SB)/8, $0xffffffffffffffff
DATA maskTab<>+16(SB)/8, $0xffffffffffffffff
DATA maskTab<>+24(SB)/8, $0xffffffffffffffff
DATA maskTab<>+32(SB)/8, $0
DATA maskTab<>+40(SB)/8, $0
DATA maskTab<>+48(SB)/8, $0
DATA maskTab<>+56(SB)/8, $0
GLOBL maskTab<>(SB), RODATA|NOPTR, $64

// LOADMASK loads into reg the mask for the CX&7 trailing lanes (CX is clobbered
// to hold 8 - tail; AX holds the mask address afterwards).
#define LOADMASK(reg) \
	ANDQ $7, CX; \
	NEGQ CX; \
	ADDQ $8, CX; \
	LEAQ maskTab<>(SB), AX; \
	LEAQ (AX)(CX*4), AX; \
	VMOVDQU (AX), reg

// HSUM4 reduces four 8-lane accumulators a, b, c, d to the xmm register of a
// holding [Σa Σb Σc Σd]. It clobbers b and c.
#define HSUM4(a, b, c, d, xa, xb) \
	VHADDPS b, a, a; \
	VHADDPS d, c, c; \
	VHADDPS c, a, a; \
	VEXTRACTF128 $1, a, xb; \
	VADDPS xb, xa, xa

// HSUM1 reduces Y0 to the scalar in X0.
#define HSUM1 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VHADDPS X0, X0, X0; \
	VHADDPS X0, X0, X0

// func dotAVX(x, y *float32, n int) float32
TEXT ·dotAVX(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   dot8

dot32:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ BX
	JNZ  dot32

dot8:
	MOVQ CX, BX
	ANDQ $31, BX
	SHRQ $3, BX
	JZ   dottail

dot8loop:
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ BX
	JNZ  dot8loop

dottail:
	TESTQ $7, CX
	JZ    dotdone
	LOADMASK(Y15)
	VMASKMOVPS (SI), Y15, Y4
	VMASKMOVPS (DI), Y15, Y5
	VFMADD231PS Y5, Y4, Y1

dotdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM1
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func sumAVX(x *float32, n int) float32
TEXT ·sumAVX(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   sum8

sum32:
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ $128, SI
	DECQ BX
	JNZ  sum32

sum8:
	MOVQ CX, BX
	ANDQ $31, BX
	SHRQ $3, BX
	JZ   sumtail

sum8loop:
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ BX
	JNZ  sum8loop

sumtail:
	TESTQ $7, CX
	JZ    sumdone
	LOADMASK(Y15)
	VMASKMOVPS (SI), Y15, Y4
	VADDPS Y4, Y1, Y1

sumdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM1
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func axpyAVX(a float32, x, y *float32, n int)
// y[i] += a*x[i] for i < n&^7.
TEXT ·axpyAVX(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y15
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   axpy8

axpy32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ BX
	JNZ  axpy32

axpy8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   axpydone

axpy8loop:
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  axpy8loop

axpydone:
	VZEROUPPER
	RET

// func scaleAVX(a float32, x *float32, n int)
// x[i] *= a for i < n&^7.
TEXT ·scaleAVX(SB), NOSPLIT, $0-24
	VBROADCASTSS a+0(FP), Y15
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   scale8

scale32:
	VMULPS (DI), Y15, Y0
	VMULPS 32(DI), Y15, Y1
	VMULPS 64(DI), Y15, Y2
	VMULPS 96(DI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	DECQ BX
	JNZ  scale32

scale8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   scaledone

scale8loop:
	VMULPS (DI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ  scale8loop

scaledone:
	VZEROUPPER
	RET

// addAVX and mulAVX compute dst[i] = x[i] op y[i] for i < n&^7. Each block is
// loaded before it is stored, so dst may be x or y.
// func addAVX(dst, x, y *float32, n int)
TEXT ·addAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   add8
add32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS 64(DI), Y2, Y2
	VADDPS 96(DI), Y3, Y3
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, DX
	DECQ BX
	JNZ  add32
add8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   adddone
add8loop:
	VMOVUPS (SI), Y0
	VADDPS (DI), Y0, Y0
	VMOVUPS Y0, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  add8loop
adddone:
	VZEROUPPER
	RET

// func mulAVX(dst, x, y *float32, n int)
TEXT ·mulAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   mul8
mul32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMULPS (DI), Y0, Y0
	VMULPS 32(DI), Y1, Y1
	VMULPS 64(DI), Y2, Y2
	VMULPS 96(DI), Y3, Y3
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, DX
	DECQ BX
	JNZ  mul32
mul8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   muldone
mul8loop:
	VMOVUPS (SI), Y0
	VMULPS (DI), Y0, Y0
	VMOVUPS Y0, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  mul8loop
muldone:
	VZEROUPPER
	RET

// func dot1x4AVX(x, w, out *float32, ldw, k, acc, pf int)
// out[j] (+)= Σ_{t<k} x[t]*w[j*ldw+t] for j < 4. acc != 0 adds to out.
// R12 prefetches pf bytes ahead of the 4-row stream (see dot1x4F16AVX).
TEXT ·dot1x4AVX(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ pf+48(FP), R12
	ADDQ DI, R12
	MOVQ ldw+24(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ k+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ CX, BX
	SHRQ $4, BX
	JZ   m14eight

m14loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	PREFETCHT0 192(R12)
	ADDQ $256, R12
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y4
	VFMADD231PS (DI)(R9*1), Y8, Y1
	VFMADD231PS 32(DI)(R9*1), Y9, Y5
	VFMADD231PS (DI)(R9*2), Y8, Y2
	VFMADD231PS 32(DI)(R9*2), Y9, Y6
	VFMADD231PS (DI)(R10*1), Y8, Y3
	VFMADD231PS 32(DI)(R10*1), Y9, Y7
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ BX
	JNZ  m14loop

m14eight:
	TESTQ $8, CX
	JZ    m14tail
	VMOVUPS (SI), Y8
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (DI)(R9*1), Y8, Y1
	VFMADD231PS (DI)(R9*2), Y8, Y2
	VFMADD231PS (DI)(R10*1), Y8, Y3
	ADDQ $32, SI
	ADDQ $32, DI

m14tail:
	TESTQ $7, CX
	JZ    m14reduce
	LOADMASK(Y15)
	VMASKMOVPS (SI), Y15, Y8
	VMASKMOVPS (DI), Y15, Y9
	VFMADD231PS Y9, Y8, Y4
	VMASKMOVPS (DI)(R9*1), Y15, Y10
	VFMADD231PS Y10, Y8, Y5
	VMASKMOVPS (DI)(R9*2), Y15, Y11
	VFMADD231PS Y11, Y8, Y6
	VMASKMOVPS (DI)(R10*1), Y15, Y12
	VFMADD231PS Y12, Y8, Y7

m14reduce:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	HSUM4(Y0, Y1, Y2, Y3, X0, X1)
	MOVQ out+16(FP), DX
	MOVQ acc+40(FP), AX
	TESTQ AX, AX
	JZ    m14store
	VADDPS (DX), X0, X0

m14store:
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

// func dot3x4AVX(x, w, out *float32, ldx, ldw, ldo, k, acc int)
// out[i*ldo+j] (+)= Σ_{t<k} x[i*ldx+t]*w[j*ldw+t] for i < 3, j < 4.
// Accumulator Y(4i+j); x rows in Y12..Y14, the w row in Y15.
TEXT ·dot3x4AVX(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ ldx+24(FP), R8
	SHLQ $2, R8
	MOVQ ldw+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ k+48(FP), CX

	// Start fetching the output tile now; it is needed only at the end.
	MOVQ out+16(FP), DX
	MOVQ ldo+40(FP), R11
	SHLQ $2, R11
	PREFETCHT0 (DX)
	PREFETCHT0 (DX)(R11*1)
	PREFETCHT0 (DX)(R11*2)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   m34tail

m34loop:
	VMOVUPS (SI), Y12
	VMOVUPS (SI)(R8*1), Y13
	VMOVUPS (SI)(R8*2), Y14
	VMOVUPS (DI), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS (DI)(R9*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS (DI)(R9*2), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS (DI)(R10*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ BX
	JNZ  m34loop

m34tail:
	TESTQ $7, CX
	JZ    m34reduce
	LOADMASK(Y15)
	VMASKMOVPS (SI), Y15, Y12
	VMASKMOVPS (SI)(R8*1), Y15, Y13
	VMASKMOVPS (SI)(R8*2), Y15, Y14
	VMASKMOVPS (DI), Y15, Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVDQU (AX), Y15
	VMASKMOVPS (DI)(R9*1), Y15, Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVDQU (AX), Y15
	VMASKMOVPS (DI)(R9*2), Y15, Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVDQU (AX), Y15
	VMASKMOVPS (DI)(R10*1), Y15, Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11

m34reduce:
	HSUM4(Y0, Y1, Y2, Y3, X0, X1)
	HSUM4(Y4, Y5, Y6, Y7, X4, X5)
	HSUM4(Y8, Y9, Y10, Y11, X8, X9)
	MOVQ acc+56(FP), AX
	TESTQ AX, AX
	JZ    m34store
	VADDPS (DX), X0, X0
	VADDPS (DX)(R11*1), X4, X4
	VADDPS (DX)(R11*2), X8, X8

m34store:
	VMOVUPS X0, (DX)
	VMOVUPS X4, (DX)(R11*1)
	VMOVUPS X8, (DX)(R11*2)
	VZEROUPPER
	RET

// func dot1x4F16AVX(x *float32, w *uint16, out *float32, ldw, k, pf int)
// out[j] = Σ_{t<k} x[t]*half(w[j*ldw+t]) for j < 4; k is a multiple of 8.
//
// Matrix-vector products walk consecutive quads of rows, that is one
// contiguous stream of 4*ldw halves per call. R12 runs pf bytes ahead
// of that stream, two lines per iteration (the bytes the iteration
// consumes), so the memory system always has the next few KiB in flight.
// The hardware prefetcher alone falls behind while the core is busy
// converting: without it f16 decode reached ~60% of the read bandwidth on
// the 2-core test machine, with it ~90%.
TEXT ·dot1x4F16AVX(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ pf+40(FP), R12
	ADDQ DI, R12
	MOVQ ldw+24(FP), R9
	SHLQ $1, R9
	LEAQ (R9)(R9*2), R10
	MOVQ k+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ CX, BX
	SHRQ $4, BX
	JZ   h14eight

h14loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	ADDQ $128, R12
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VCVTPH2PS (DI), Y10
	VCVTPH2PS 16(DI), Y11
	VCVTPH2PS (DI)(R9*1), Y12
	VCVTPH2PS 16(DI)(R9*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y9, Y4
	VFMADD231PS Y12, Y8, Y1
	VFMADD231PS Y13, Y9, Y5
	VCVTPH2PS (DI)(R9*2), Y10
	VCVTPH2PS 16(DI)(R9*2), Y11
	VCVTPH2PS (DI)(R10*1), Y12
	VCVTPH2PS 16(DI)(R10*1), Y13
	VFMADD231PS Y10, Y8, Y2
	VFMADD231PS Y11, Y9, Y6
	VFMADD231PS Y12, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ BX
	JNZ  h14loop

h14eight:
	TESTQ $8, CX
	JZ    h14reduce
	VMOVUPS (SI), Y8
	VCVTPH2PS (DI), Y10
	VCVTPH2PS (DI)(R9*1), Y11
	VCVTPH2PS (DI)(R9*2), Y12
	VCVTPH2PS (DI)(R10*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y13, Y8, Y3

h14reduce:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	HSUM4(Y0, Y1, Y2, Y3, X0, X1)
	MOVQ out+16(FP), DX
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

// func dotF16AVX(x *float32, w *uint16, k int) float32
// Σ_{t<k} x[t]*half(w[t]); k is a multiple of 8.
TEXT ·dotF16AVX(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ k+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ CX, BX
	SHRQ $4, BX
	JZ   h11eight

h11loop:
	VCVTPH2PS (DI), Y10
	VCVTPH2PS 16(DI), Y11
	VFMADD231PS (SI), Y10, Y0
	VFMADD231PS 32(SI), Y11, Y1
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ BX
	JNZ  h11loop

h11eight:
	TESTQ $8, CX
	JZ    h11reduce
	VCVTPH2PS (DI), Y10
	VFMADD231PS (SI), Y10, Y0

h11reduce:
	VADDPS Y1, Y0, Y0
	HSUM1
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func gemm4x24AVX(a *float32, sai, sak int, b *float32, ldb int, c *float32, ldc, k, acc int)
// c[i*ldc+j] (+)= Σ_{t<k} a[i*sai+t*sak]*b[t*ldb+j] for i < 4, j < 24.
// Accumulator Y(3i+v); the row of b in Y12..Y14, a broadcast in Y15.
TEXT ·gemm4x24AVX(SB), NOSPLIT, $0-72
	MOVQ a+0(FP), SI
	MOVQ sai+8(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	MOVQ sak+16(FP), R11
	SHLQ $2, R11
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R13
	SHLQ $2, R13
	MOVQ k+56(FP), CX

	// Start fetching the C tile now; it is needed only at the end.
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), AX
	PREFETCHT0 (DX)
	PREFETCHT0 88(DX)
	PREFETCHT0 (DX)(R9*1)
	PREFETCHT0 88(DX)(R9*1)
	PREFETCHT0 (DX)(R9*2)
	PREFETCHT0 88(DX)(R9*2)
	PREFETCHT0 (DX)(AX*1)
	PREFETCHT0 88(DX)(AX*1)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JZ    g424store

g424loop:
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	VMOVUPS 64(DI), Y14
	VBROADCASTSS (SI), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VBROADCASTSS (SI)(R8*1), Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VBROADCASTSS (SI)(R8*2), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VBROADCASTSS (SI)(R10*1), Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	ADDQ R11, SI
	ADDQ R13, DI
	DECQ CX
	JNZ  g424loop

g424store:
	MOVQ acc+64(FP), AX
	TESTQ AX, AX
	JZ    g424put
	VADDPS (DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS (DX)(R9*1), Y3, Y3
	VADDPS 32(DX)(R9*1), Y4, Y4
	VADDPS 64(DX)(R9*1), Y5, Y5
	VADDPS (DX)(R9*2), Y6, Y6
	VADDPS 32(DX)(R9*2), Y7, Y7
	VADDPS 64(DX)(R9*2), Y8, Y8
	LEAQ (R9)(R9*2), R10
	VADDPS (DX)(R10*1), Y9, Y9
	VADDPS 32(DX)(R10*1), Y10, Y10
	VADDPS 64(DX)(R10*1), Y11, Y11

g424put:
	LEAQ (R9)(R9*2), R10
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, (DX)(R9*1)
	VMOVUPS Y4, 32(DX)(R9*1)
	VMOVUPS Y5, 64(DX)(R9*1)
	VMOVUPS Y6, (DX)(R9*2)
	VMOVUPS Y7, 32(DX)(R9*2)
	VMOVUPS Y8, 64(DX)(R9*2)
	VMOVUPS Y9, (DX)(R10*1)
	VMOVUPS Y10, 32(DX)(R10*1)
	VMOVUPS Y11, 64(DX)(R10*1)
	VZEROUPPER
	RET

// func f16ToF32AVX(dst *float32, src *uint16, n int)
// Converts n&^7 halves.
TEXT ·f16ToF32AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   h2f8

h2f32:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ BX
	JNZ  h2f32

h2f8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   h2fdone

h2f8loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  h2f8loop

h2fdone:
	VZEROUPPER
	RET

// func f32ToF16AVX(dst *uint16, src *float32, n int)
// Converts n&^7 floats, rounding to nearest even (imm8 = 0).
TEXT ·f32ToF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   f2h8

f2h32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VCVTPS2PH $0, Y0, (DI)
	VCVTPS2PH $0, Y1, 16(DI)
	VCVTPS2PH $0, Y2, 32(DI)
	VCVTPS2PH $0, Y3, 48(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ BX
	JNZ  f2h32

f2h8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f2hdone

f2h8loop:
	VMOVUPS (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ $32, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  f2h8loop

f2hdone:
	VZEROUPPER
	RET

// ---- exp-based element-wise kernels ----

DATA expTab<>+0(SB)/8, $0x42b2000042b20000 // hi
DATA expTab<>+8(SB)/8, $0x42b2000042b20000
DATA expTab<>+16(SB)/8, $0x42b2000042b20000
DATA expTab<>+24(SB)/8, $0x42b2000042b20000
DATA expTab<>+32(SB)/8, $0xc2d00000c2d00000 // lo
DATA expTab<>+40(SB)/8, $0xc2d00000c2d00000
DATA expTab<>+48(SB)/8, $0xc2d00000c2d00000
DATA expTab<>+56(SB)/8, $0xc2d00000c2d00000
DATA expTab<>+64(SB)/8, $0x3fb8aa3b3fb8aa3b // log2e
DATA expTab<>+72(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expTab<>+80(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expTab<>+88(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expTab<>+96(SB)/8, $0x4b4000004b400000 // magic
DATA expTab<>+104(SB)/8, $0x4b4000004b400000
DATA expTab<>+112(SB)/8, $0x4b4000004b400000
DATA expTab<>+120(SB)/8, $0x4b4000004b400000
DATA expTab<>+128(SB)/8, $0x3f3180003f318000 // c1
DATA expTab<>+136(SB)/8, $0x3f3180003f318000
DATA expTab<>+144(SB)/8, $0x3f3180003f318000
DATA expTab<>+152(SB)/8, $0x3f3180003f318000
DATA expTab<>+160(SB)/8, $0xb95e8083b95e8083 // c2
DATA expTab<>+168(SB)/8, $0xb95e8083b95e8083
DATA expTab<>+176(SB)/8, $0xb95e8083b95e8083
DATA expTab<>+184(SB)/8, $0xb95e8083b95e8083
DATA expTab<>+192(SB)/8, $0x3950696739506967 // p0
DATA expTab<>+200(SB)/8, $0x3950696739506967
DATA expTab<>+208(SB)/8, $0x3950696739506967
DATA expTab<>+216(SB)/8, $0x3950696739506967
DATA expTab<>+224(SB)/8, $0x3ab743ce3ab743ce // p1
DATA expTab<>+232(SB)/8, $0x3ab743ce3ab743ce
DATA expTab<>+240(SB)/8, $0x3ab743ce3ab743ce
DATA expTab<>+248(SB)/8, $0x3ab743ce3ab743ce
DATA expTab<>+256(SB)/8, $0x3c0889083c088908 // p2
DATA expTab<>+264(SB)/8, $0x3c0889083c088908
DATA expTab<>+272(SB)/8, $0x3c0889083c088908
DATA expTab<>+280(SB)/8, $0x3c0889083c088908
DATA expTab<>+288(SB)/8, $0x3d2aa9c13d2aa9c1 // p3
DATA expTab<>+296(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expTab<>+304(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expTab<>+312(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expTab<>+320(SB)/8, $0x3e2aaaaa3e2aaaaa // p4
DATA expTab<>+328(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expTab<>+336(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expTab<>+344(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expTab<>+352(SB)/8, $0x3f0000003f000000 // p5
DATA expTab<>+360(SB)/8, $0x3f0000003f000000
DATA expTab<>+368(SB)/8, $0x3f0000003f000000
DATA expTab<>+376(SB)/8, $0x3f0000003f000000
DATA expTab<>+384(SB)/8, $0x3f8000003f800000 // one
DATA expTab<>+392(SB)/8, $0x3f8000003f800000
DATA expTab<>+400(SB)/8, $0x3f8000003f800000
DATA expTab<>+408(SB)/8, $0x3f8000003f800000
DATA expTab<>+416(SB)/8, $0x0000007f0000007f // bias
DATA expTab<>+424(SB)/8, $0x0000007f0000007f
DATA expTab<>+432(SB)/8, $0x0000007f0000007f
DATA expTab<>+440(SB)/8, $0x0000007f0000007f
DATA expTab<>+448(SB)/8, $0x8000000080000000 // sign
DATA expTab<>+456(SB)/8, $0x8000000080000000
DATA expTab<>+464(SB)/8, $0x8000000080000000
DATA expTab<>+472(SB)/8, $0x8000000080000000
GLOBL expTab<>(SB), RODATA|NOPTR, $480

// EXP replaces the 8 floats of Y0 by e^Y0 (Cephes expf: n = round(x·log2 e),
// b = x − n·ln 2 in two parts, e^b by a degree-5 polynomial, times 2^n
// applied in two halves so that results down to the subnormals and up to
// overflow come out right). About 1 ulp. NaN lanes pass through. Clobbers
// Y1..Y5.
#define EXP \
	VMINPS expTab<>+0(SB), Y0, Y1; \
	VMAXPS expTab<>+32(SB), Y1, Y1; \
	VMOVUPS expTab<>+96(SB), Y2; \
	VFMADD231PS expTab<>+64(SB), Y1, Y2; \
	VSUBPS expTab<>+96(SB), Y2, Y3; \
	VFNMADD231PS expTab<>+128(SB), Y3, Y1; \
	VFNMADD231PS expTab<>+160(SB), Y3, Y1; \
	VCVTPS2DQ Y3, Y4; \
	VMOVUPS expTab<>+192(SB), Y5; \
	VFMADD213PS expTab<>+224(SB), Y1, Y5; \
	VFMADD213PS expTab<>+256(SB), Y1, Y5; \
	VFMADD213PS expTab<>+288(SB), Y1, Y5; \
	VFMADD213PS expTab<>+320(SB), Y1, Y5; \
	VFMADD213PS expTab<>+352(SB), Y1, Y5; \
	VMULPS Y1, Y1, Y3; \
	VFMADD213PS Y1, Y3, Y5; \
	VADDPS expTab<>+384(SB), Y5, Y5; \
	VPSRAD $1, Y4, Y3; \
	VPSUBD Y3, Y4, Y4; \
	VPADDD expTab<>+416(SB), Y3, Y3; \
	VPSLLD $23, Y3, Y3; \
	VPADDD expTab<>+416(SB), Y4, Y4; \
	VPSLLD $23, Y4, Y4; \
	VMULPS Y4, Y5, Y5; \
	VMULPS Y3, Y5, Y5; \
	VCMPPS $3, Y0, Y0, Y1; \
	VBLENDVPS Y1, Y0, Y5, Y0

// func expAVX(dst, x *float32, n int)
// dst[i] = e^x[i] for i < n&^7.
TEXT ·expAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   expdone

exploop:
	VMOVUPS (SI), Y0
	EXP
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  exploop

expdone:
	VZEROUPPER
	RET

// func siluAVX(dst, x *float32, n int)
// dst[i] = x[i] / (1 + e^-x[i]) for i < n&^7; dst may be x.
TEXT ·siluAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   siludone

siluloop:
	VMOVUPS (SI), Y6
	VXORPS expTab<>+448(SB), Y6, Y0
	EXP
	VADDPS expTab<>+384(SB), Y0, Y0
	VDIVPS Y0, Y6, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  siluloop

siludone:
	VZEROUPPER
	RET

// func swigluAVX(dst, gate, up *float32, n int)
// dst[i] = silu(gate[i]) * up[i] for i < n&^7; dst may be gate or up.
TEXT ·swigluAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   swidone

swiloop:
	VMOVUPS (SI), Y6
	VXORPS expTab<>+448(SB), Y6, Y0
	EXP
	VADDPS expTab<>+384(SB), Y0, Y0
	VDIVPS Y0, Y6, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  swiloop

swidone:
	VZEROUPPER
	RET

// func expSubAVX(x *float32, n int, m float32) float64
// x[i] = e^(x[i]-m) for i < n&^7; returns their sum, accumulated in float64.
TEXT ·expSubAVX(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	SHRQ $3, CX
	JZ   esdone

esloop:
	VMOVUPS (SI), Y0
	VSUBPS Y7, Y0, Y0
	EXP
	VMOVUPS Y0, (SI)
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VADDPD Y1, Y8, Y8
	VADDPD Y2, Y9, Y9
	ADDQ $32, SI
	DECQ CX
	JNZ  esloop

esdone:
	VADDPD Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPD X9, X8, X8
	VHADDPD X8, X8, X8
	VMOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX(x *float32, n int) float32
// Returns max(x[i]) for i < n&^7 (n >= 8).
TEXT ·maxAVX(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VMOVUPS (SI), Y0
	ADDQ $32, SI
	DECQ CX
	JZ   mxdone

mxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  mxloop

mxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func packB4AVX(dst, src *float32, ldb, pl, rows int)
// For t < rows, copies src[t*ldb : t*ldb+96] into four panels:
// dst[q*pl + t*24 : +24] = src[t*ldb + q*24 : +24] for q < 4. Rows
// PACKAHEAD rows below are prefetched: B's rows are far apart.
#define PACKAHEAD 8
TEXT ·packB4AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	SHLQ $2, R8
	MOVQ pl+24(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ rows+32(FP), CX
	IMUL3Q $PACKAHEAD, R8, R11
	TESTQ CX, CX
	JZ    pbdone

pbloop:
	PREFETCHT0 (SI)(R11*1)
	PREFETCHT0 64(SI)(R11*1)
	PREFETCHT0 128(SI)(R11*1)
	PREFETCHT0 192(SI)(R11*1)
	PREFETCHT0 256(SI)(R11*1)
	PREFETCHT0 320(SI)(R11*1)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS 128(SI), Y4
	VMOVUPS 160(SI), Y5
	VMOVUPS 192(SI), Y6
	VMOVUPS 224(SI), Y7
	VMOVUPS 256(SI), Y8
	VMOVUPS 288(SI), Y9
	VMOVUPS 320(SI), Y10
	VMOVUPS 352(SI), Y11
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, (DI)(R9*1)
	VMOVUPS Y4, 32(DI)(R9*1)
	VMOVUPS Y5, 64(DI)(R9*1)
	VMOVUPS Y6, (DI)(R9*2)
	VMOVUPS Y7, 32(DI)(R9*2)
	VMOVUPS Y8, 64(DI)(R9*2)
	VMOVUPS Y9, (DI)(R10*1)
	VMOVUPS Y10, 32(DI)(R10*1)
	VMOVUPS Y11, 64(DI)(R10*1)
	ADDQ R8, SI
	ADDQ $96, DI
	DECQ CX
	JNZ  pbloop

pbdone:
	VZEROUPPER
	RET

// func packB4F16AVX(dst *float32, src *uint16, ldb, pl, rows int)
// packB4AVX for half-precision B, converting with VCVTPH2PS.
TEXT ·packB4F16AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	SHLQ $1, R8
	MOVQ pl+24(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ rows+32(FP), CX
	IMUL3Q $PACKAHEAD, R8, R11
	TESTQ CX, CX
	JZ    phdone

phloop:
	PREFETCHT0 (SI)(R11*1)
	PREFETCHT0 64(SI)(R11*1)
	PREFETCHT0 128(SI)(R11*1)
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VCVTPH2PS 64(SI), Y4
	VCVTPH2PS 80(SI), Y5
	VCVTPH2PS 96(SI), Y6
	VCVTPH2PS 112(SI), Y7
	VCVTPH2PS 128(SI), Y8
	VCVTPH2PS 144(SI), Y9
	VCVTPH2PS 160(SI), Y10
	VCVTPH2PS 176(SI), Y11
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, (DI)(R9*1)
	VMOVUPS Y4, 32(DI)(R9*1)
	VMOVUPS Y5, 64(DI)(R9*1)
	VMOVUPS Y6, (DI)(R9*2)
	VMOVUPS Y7, 32(DI)(R9*2)
	VMOVUPS Y8, 64(DI)(R9*2)
	VMOVUPS Y9, (DI)(R10*1)
	VMOVUPS Y10, 32(DI)(R10*1)
	VMOVUPS Y11, 64(DI)(R10*1)
	ADDQ R8, SI
	ADDQ $96, DI
	DECQ CX
	JNZ  phloop

phdone:
	VZEROUPPER
	RET
