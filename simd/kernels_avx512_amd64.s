//go:build amd64 && !noasm

#include "textflag.h"

// AVX-512 (F + VL) kernels of the forward product, selected at run time
// (kernels_avx512_amd64.go). They compute the same bits as the AVX2
// kernels and the portable models: every output still has one 8-lane
// accumulator that takes the columns eight at a time in order, reduced
// in HSUM4's order; a 16-lane register just holds two such accumulators
// (two weight rows), so twice the work per instruction and the 32
// registers give a 6×8 tile.

// HSUM4 as in kernels_amd64.s (macros do not cross files).
#define HSUM4(a, b, c, d, xa, xb) \
	VHADDPS b, a, a; \
	VHADDPS d, c, c; \
	VHADDPS c, a, a; \
	VEXTRACTF128 $1, a, xb; \
	VADDPS xb, xa, xa

// PFDIST as in kernels_amd64.s.
#define PFDIST 8192

// HADD(x, y, d) is VHADDPS y, x, d on 16 lanes (VHADDPS has no EVEX
// form): per 128-bit lane [x0+x1, x2+x3, y0+y1, y2+y3]. Z30, Z31 scratch.
#define HADD(x, y, d) \
	VSHUFPS $0x88, y, x, Z30; \
	VSHUFPS $0xDD, y, x, Z31; \
	VADDPS Z31, Z30, d

// REDUCE8(a, b, c, d, ya) reduces the pairs of accumulators a=[r0|r4],
// b=[r1|r5], c=[r2|r6], d=[r3|r7] to ya = [Σr0 … Σr7], each sum in
// HSUM4's order ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)). Clobbers b, c.
#define REDUCE8(a, b, c, d, ya) \
	HADD(a, b, a); \
	HADD(c, d, c); \
	HADD(a, c, a); \
	VSHUFF32X4 $0x88, a, a, Z30; \
	VSHUFF32X4 $0xDD, a, a, Z31; \
	VADDPS Z31, Z30, a

// func dot6x8AVX512(x, w, out *float32, ldx, ldo, k, acc int)
// out[i*ldo+j] (+)= Σ_{t<k} x[i*ldx+t]*W[j][t] for i < 6, j < 8, where w
// is the packed panel of packW8: per eight columns, four 16-float groups
// [row p | row p+4], p < 4. k is a positive multiple of 8.
TEXT ·dot6x8AVX512(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ out+16(FP), DX
	MOVQ ldx+24(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	LEAQ (R8)(R8*4), R11
	MOVQ ldo+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R12
	LEAQ (R9)(R9*4), R13
	MOVQ k+40(FP), CX
	SHRQ $3, CX

	PREFETCHT0 (DX)
	PREFETCHT0 (DX)(R9*1)
	PREFETCHT0 (DX)(R9*2)
	PREFETCHT0 (DX)(R12*1)
	PREFETCHT0 (DX)(R9*4)
	PREFETCHT0 (DX)(R13*1)
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	VXORPS Z16, Z16, Z16
	VXORPS Z17, Z17, Z17
	VXORPS Z18, Z18, Z18
	VXORPS Z19, Z19, Z19
	VXORPS Z20, Z20, Z20
	VXORPS Z21, Z21, Z21
	VXORPS Z22, Z22, Z22
	VXORPS Z23, Z23, Z23

d68loop:
	VMOVUPS 0(DI), Z24
	VMOVUPS 64(DI), Z25
	VMOVUPS 128(DI), Z26
	VMOVUPS 192(DI), Z27
	VBROADCASTF64X4 (SI), Z28
	VFMADD231PS Z24, Z28, Z0
	VFMADD231PS Z25, Z28, Z1
	VFMADD231PS Z26, Z28, Z2
	VFMADD231PS Z27, Z28, Z3
	VBROADCASTF64X4 (SI)(R8*1), Z29
	VFMADD231PS Z24, Z29, Z4
	VFMADD231PS Z25, Z29, Z5
	VFMADD231PS Z26, Z29, Z6
	VFMADD231PS Z27, Z29, Z7
	VBROADCASTF64X4 (SI)(R8*2), Z28
	VFMADD231PS Z24, Z28, Z8
	VFMADD231PS Z25, Z28, Z9
	VFMADD231PS Z26, Z28, Z10
	VFMADD231PS Z27, Z28, Z11
	VBROADCASTF64X4 (SI)(R10*1), Z29
	VFMADD231PS Z24, Z29, Z12
	VFMADD231PS Z25, Z29, Z13
	VFMADD231PS Z26, Z29, Z14
	VFMADD231PS Z27, Z29, Z15
	VBROADCASTF64X4 (SI)(R8*4), Z28
	VFMADD231PS Z24, Z28, Z16
	VFMADD231PS Z25, Z28, Z17
	VFMADD231PS Z26, Z28, Z18
	VFMADD231PS Z27, Z28, Z19
	VBROADCASTF64X4 (SI)(R11*1), Z29
	VFMADD231PS Z24, Z29, Z20
	VFMADD231PS Z25, Z29, Z21
	VFMADD231PS Z26, Z29, Z22
	VFMADD231PS Z27, Z29, Z23
	ADDQ $32, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  d68loop

	REDUCE8(Z0, Z1, Z2, Z3, Y0)
	REDUCE8(Z4, Z5, Z6, Z7, Y4)
	REDUCE8(Z8, Z9, Z10, Z11, Y8)
	REDUCE8(Z12, Z13, Z14, Z15, Y12)
	REDUCE8(Z16, Z17, Z18, Z19, Y16)
	REDUCE8(Z20, Z21, Z22, Z23, Y20)
	MOVQ acc+48(FP), AX
	TESTQ AX, AX
	JZ    d68store
	VADDPS (DX), Y0, Y0
	VADDPS (DX)(R9*1), Y4, Y4
	VADDPS (DX)(R9*2), Y8, Y8
	VADDPS (DX)(R12*1), Y12, Y12
	VADDPS (DX)(R9*4), Y16, Y16
	VADDPS (DX)(R13*1), Y20, Y20

d68store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y4, (DX)(R9*1)
	VMOVUPS Y8, (DX)(R9*2)
	VMOVUPS Y12, (DX)(R12*1)
	VMOVUPS Y16, (DX)(R9*4)
	VMOVUPS Y20, (DX)(R13*1)
	VZEROUPPER
	RET

// func packW8F32AVX512(dst, src *float32, ldw, k int)
// Packs eight rows of src (ldw floats apart) over k columns (a positive
// multiple of 8) into dot6x8AVX512's panel.
TEXT ·packW8F32AVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldw+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	LEAQ (SI)(R8*4), BX
	MOVQ k+24(FP), CX
	SHRQ $3, CX

p8loop:
	VMOVUPS (SI), Y0
	VINSERTF64X4 $1, (BX), Z0, Z0
	VMOVUPS (SI)(R8*1), Y1
	VINSERTF64X4 $1, (BX)(R8*1), Z1, Z1
	VMOVUPS (SI)(R8*2), Y2
	VINSERTF64X4 $1, (BX)(R8*2), Z2, Z2
	VMOVUPS (SI)(R10*1), Y3
	VINSERTF64X4 $1, (BX)(R10*1), Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $256, DI
	DECQ CX
	JNZ  p8loop
	VZEROUPPER
	RET

// func packW8F16AVX512(dst *float32, src *uint16, ldw, k int)
// packW8F32AVX512 for half-precision src, converted with F16C.
TEXT ·packW8F16AVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldw+16(FP), R8
	SHLQ $1, R8
	LEAQ (R8)(R8*2), R10
	LEAQ (SI)(R8*4), BX
	MOVQ k+24(FP), CX
	SHRQ $3, CX

p8hloop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS (BX), Y4
	VINSERTF64X4 $1, Y4, Z0, Z0
	VCVTPH2PS (SI)(R8*1), Y1
	VCVTPH2PS (BX)(R8*1), Y5
	VINSERTF64X4 $1, Y5, Z1, Z1
	VCVTPH2PS (SI)(R8*2), Y2
	VCVTPH2PS (BX)(R8*2), Y6
	VINSERTF64X4 $1, Y6, Z2, Z2
	VCVTPH2PS (SI)(R10*1), Y3
	VCVTPH2PS (BX)(R10*1), Y7
	VINSERTF64X4 $1, Y7, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $16, SI
	ADDQ $16, BX
	ADDQ $256, DI
	DECQ CX
	JNZ  p8hloop
	VZEROUPPER
	RET

// func dot1x8SplitAVX512(x, w, out *float32, k, acc int)
// out[j] (+)= Σ_{t<k} x[t]*W[j][t] for j < 8 from dot6x8AVX512's panel, in
// kern1x4's order: per row two accumulators, the even eights of columns
// into the first, the odd ones into the second, added before the HSUM4
// reduction. k is a positive multiple of 8.
TEXT ·dot1x8SplitAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ out+16(FP), DX
	MOVQ k+24(FP), CX
	SHRQ $3, CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   d18odd

d18loop:
	VBROADCASTF64X4 (SI), Z28
	VBROADCASTF64X4 32(SI), Z29
	VFMADD231PS 0(DI), Z28, Z0
	VFMADD231PS 64(DI), Z28, Z1
	VFMADD231PS 128(DI), Z28, Z2
	VFMADD231PS 192(DI), Z28, Z3
	VFMADD231PS 256(DI), Z29, Z4
	VFMADD231PS 320(DI), Z29, Z5
	VFMADD231PS 384(DI), Z29, Z6
	VFMADD231PS 448(DI), Z29, Z7
	ADDQ $64, SI
	ADDQ $512, DI
	DECQ BX
	JNZ  d18loop

d18odd:
	TESTQ $1, CX
	JZ    d18reduce
	VBROADCASTF64X4 (SI), Z28
	VFMADD231PS 0(DI), Z28, Z0
	VFMADD231PS 64(DI), Z28, Z1
	VFMADD231PS 128(DI), Z28, Z2
	VFMADD231PS 192(DI), Z28, Z3

d18reduce:
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	REDUCE8(Z0, Z1, Z2, Z3, Y0)
	MOVQ acc+32(FP), AX
	TESTQ AX, AX
	JZ    d18store
	VADDPS (DX), Y0, Y0

d18store:
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET

// func dot8F16AVX512(x *float32, w *uint16, out *float32, ldw, k int)
// out[j] = Σ_{t<k} x[t]*half(w[j*ldw+t]) for j < 8, k a multiple of 8, in
// dot1x4F16AVX's order: that kernel's two accumulators of a row, the even
// and the odd eights of columns, are the two halves of one 16-lane
// register here, so sixteen columns take one conversion and one FMA per
// row. The eight rows (two quads) are one contiguous stream, prefetched
// PFDIST ahead as there.
TEXT ·dot8F16AVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	LEAQ PFDIST(DI), R12
	MOVQ ldw+24(FP), R9
	SHLQ $1, R9
	LEAQ (R9)(R9*2), R10
	LEAQ (DI)(R9*4), R11
	MOVQ k+32(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ CX, BX
	SHRQ $4, BX
	JZ   h8eight

h8loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	PREFETCHT0 192(R12)
	ADDQ $256, R12
	VMOVUPS (SI), Z8
	VCVTPH2PS (DI), Z10
	VCVTPH2PS (DI)(R9*1), Z11
	VCVTPH2PS (DI)(R9*2), Z12
	VCVTPH2PS (DI)(R10*1), Z13
	VCVTPH2PS (R11), Z14
	VCVTPH2PS (R11)(R9*1), Z15
	VCVTPH2PS (R11)(R9*2), Z16
	VCVTPH2PS (R11)(R10*1), Z17
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z11, Z8, Z1
	VFMADD231PS Z12, Z8, Z2
	VFMADD231PS Z13, Z8, Z3
	VFMADD231PS Z14, Z8, Z4
	VFMADD231PS Z15, Z8, Z5
	VFMADD231PS Z16, Z8, Z6
	VFMADD231PS Z17, Z8, Z7
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, R11
	DECQ BX
	JNZ  h8loop

h8eight:
	// The odd eights (upper halves) out first: the 8-lane tail below
	// clears them.
	VEXTRACTF64X4 $1, Z0, Y24
	VEXTRACTF64X4 $1, Z1, Y25
	VEXTRACTF64X4 $1, Z2, Y26
	VEXTRACTF64X4 $1, Z3, Y27
	VEXTRACTF64X4 $1, Z4, Y28
	VEXTRACTF64X4 $1, Z5, Y29
	VEXTRACTF64X4 $1, Z6, Y30
	VEXTRACTF64X4 $1, Z7, Y31
	TESTQ $8, CX
	JZ    h8reduce
	VMOVUPS (SI), Y8
	VCVTPH2PS (DI), Y10
	VCVTPH2PS (DI)(R9*1), Y11
	VCVTPH2PS (DI)(R9*2), Y12
	VCVTPH2PS (DI)(R10*1), Y13
	VCVTPH2PS (R11), Y14
	VCVTPH2PS (R11)(R9*1), Y15
	VCVTPH2PS (R11)(R9*2), Y16
	VCVTPH2PS (R11)(R10*1), Y17
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y14, Y8, Y4
	VFMADD231PS Y15, Y8, Y5
	VFMADD231PS Y16, Y8, Y6
	VFMADD231PS Y17, Y8, Y7

h8reduce:
	VADDPS Y24, Y0, Y0
	VADDPS Y25, Y1, Y1
	VADDPS Y26, Y2, Y2
	VADDPS Y27, Y3, Y3
	VADDPS Y28, Y4, Y4
	VADDPS Y29, Y5, Y5
	VADDPS Y30, Y6, Y6
	VADDPS Y31, Y7, Y7
	HSUM4(Y0, Y1, Y2, Y3, X0, X1)
	HSUM4(Y4, Y5, Y6, Y7, X4, X5)
	MOVQ out+16(FP), DX
	VMOVUPS X0, (DX)
	VMOVUPS X4, 16(DX)
	VZEROUPPER
	RET
