//go:build amd64 && !noasm

#include "textflag.h"

// AVX-512 VNNI kernels of the quantized products of many activation rows
// (prefill), selected at run time (prefill_vnni_amd64.go). They give the
// bits of dotQ8_0Generic / dotQ4_0Generic: per block the products are
// summed exactly in int32, converted, multiplied by dw·dx (exact) with one
// rounding and added to the running float32 sum block by block. Only the
// way the exact integer sums are formed changes.
//
// Each lane of a 16-lane register is one weight row: the weights come as a
// packed panel of sixteen rows (packPanel16), per block eight 64-byte
// groups, group k holding bytes 4k..4k+3 of the block's codes for each of
// the sixteen rows, as unsigned bytes u = w + off (off = 128 for Q8_0, the
// sign bit flipped; 8 for Q4_0, the nibbles as they are). VPDPBUSD with
// the activation's bytes 4k..4k+3 broadcast adds four products to every
// row's lane, so eight of them leave the block sums Σu·x in the lanes with
// no horizontal reduction. Each starts at -off·Σx (xneg, formed once per
// activation row and block by the caller), so the sum is Σ(u - off)·x =
// Σ w·x. dx holds the activation blocks' scales as float32.
//
// qdot16xT computes out[t*ldo+j] = row j of the panel · activation row t
// (Q8_0 rows xstride bytes apart) for j < 16, t < T, over nb > 0 blocks;
// xneg and dx are indexed [t*nb+b].

// func qdot16x4VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xneg *int32, dx *float32, out *float32, ldo int)
TEXT ·qdot16x4VNNI(SB), NOSPLIT, $0-72
	MOVQ panel+0(FP), SI
	MOVQ dw+8(FP), R8
	MOVQ x+16(FP), BX
	MOVQ xstride+24(FP), R9
	LEAQ (R9)(R9*2), R10
	MOVQ nb+32(FP), CX
	MOVQ xneg+40(FP), R12
	MOVQ dx+48(FP), R11
	MOVQ CX, R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R14
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

qdot16x4VNNIloop:
	VMOVDQU32 0(SI), Z0
	VMOVDQU32 64(SI), Z1
	VMOVDQU32 128(SI), Z2
	VMOVDQU32 192(SI), Z3
	VMOVDQU32 256(SI), Z4
	VMOVDQU32 320(SI), Z5
	VMOVDQU32 384(SI), Z6
	VMOVDQU32 448(SI), Z7
	VMOVUPS (R8), Z16
	VPBROADCASTD (R12), Z8
	VPBROADCASTD (R12)(R13*1), Z9
	VPBROADCASTD (R12)(R13*2), Z10
	VPBROADCASTD (R12)(R14*1), Z11
	VPDPBUSD.BCST 2(BX), Z0, Z8
	VPDPBUSD.BCST 2(BX)(R9*1), Z0, Z9
	VPDPBUSD.BCST 2(BX)(R9*2), Z0, Z10
	VPDPBUSD.BCST 2(BX)(R10*1), Z0, Z11
	VPDPBUSD.BCST 6(BX), Z1, Z8
	VPDPBUSD.BCST 6(BX)(R9*1), Z1, Z9
	VPDPBUSD.BCST 6(BX)(R9*2), Z1, Z10
	VPDPBUSD.BCST 6(BX)(R10*1), Z1, Z11
	VPDPBUSD.BCST 10(BX), Z2, Z8
	VPDPBUSD.BCST 10(BX)(R9*1), Z2, Z9
	VPDPBUSD.BCST 10(BX)(R9*2), Z2, Z10
	VPDPBUSD.BCST 10(BX)(R10*1), Z2, Z11
	VPDPBUSD.BCST 14(BX), Z3, Z8
	VPDPBUSD.BCST 14(BX)(R9*1), Z3, Z9
	VPDPBUSD.BCST 14(BX)(R9*2), Z3, Z10
	VPDPBUSD.BCST 14(BX)(R10*1), Z3, Z11
	VPDPBUSD.BCST 18(BX), Z4, Z8
	VPDPBUSD.BCST 18(BX)(R9*1), Z4, Z9
	VPDPBUSD.BCST 18(BX)(R9*2), Z4, Z10
	VPDPBUSD.BCST 18(BX)(R10*1), Z4, Z11
	VPDPBUSD.BCST 22(BX), Z5, Z8
	VPDPBUSD.BCST 22(BX)(R9*1), Z5, Z9
	VPDPBUSD.BCST 22(BX)(R9*2), Z5, Z10
	VPDPBUSD.BCST 22(BX)(R10*1), Z5, Z11
	VPDPBUSD.BCST 26(BX), Z6, Z8
	VPDPBUSD.BCST 26(BX)(R9*1), Z6, Z9
	VPDPBUSD.BCST 26(BX)(R9*2), Z6, Z10
	VPDPBUSD.BCST 26(BX)(R10*1), Z6, Z11
	VPDPBUSD.BCST 30(BX), Z7, Z8
	VPDPBUSD.BCST 30(BX)(R9*1), Z7, Z9
	VPDPBUSD.BCST 30(BX)(R9*2), Z7, Z10
	VPDPBUSD.BCST 30(BX)(R10*1), Z7, Z11
	VCVTDQ2PS Z8, Z8
	VMULPS.BCST (R11), Z16, Z17
	VMULPS Z17, Z8, Z8
	VADDPS Z8, Z12, Z12
	VCVTDQ2PS Z9, Z9
	VMULPS.BCST (R11)(R13*1), Z16, Z18
	VMULPS Z18, Z9, Z9
	VADDPS Z9, Z13, Z13
	VCVTDQ2PS Z10, Z10
	VMULPS.BCST (R11)(R13*2), Z16, Z19
	VMULPS Z19, Z10, Z10
	VADDPS Z10, Z14, Z14
	VCVTDQ2PS Z11, Z11
	VMULPS.BCST (R11)(R14*1), Z16, Z20
	VMULPS Z20, Z11, Z11
	VADDPS Z11, Z15, Z15
	ADDQ $512, SI
	ADDQ $64, R8
	ADDQ $34, BX
	ADDQ $4, R12
	ADDQ $4, R11
	DECQ CX
	JNZ  qdot16x4VNNIloop

	MOVQ out+56(FP), DX
	MOVQ ldo+64(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, (DX)(R9*1)
	VMOVUPS Z14, (DX)(R9*2)
	VMOVUPS Z15, (DX)(R10*1)
	VZEROUPPER
	RET

// func qdot16x1VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xneg *int32, dx *float32, out *float32, ldo int)
TEXT ·qdot16x1VNNI(SB), NOSPLIT, $0-72
	MOVQ panel+0(FP), SI
	MOVQ dw+8(FP), R8
	MOVQ x+16(FP), BX
	MOVQ xstride+24(FP), R9
	LEAQ (R9)(R9*2), R10
	MOVQ nb+32(FP), CX
	MOVQ xneg+40(FP), R12
	MOVQ dx+48(FP), R11
	MOVQ CX, R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R14
	VPXORD Z12, Z12, Z12

qdot16x1VNNIloop:
	VMOVDQU32 0(SI), Z0
	VMOVDQU32 64(SI), Z1
	VMOVDQU32 128(SI), Z2
	VMOVDQU32 192(SI), Z3
	VMOVDQU32 256(SI), Z4
	VMOVDQU32 320(SI), Z5
	VMOVDQU32 384(SI), Z6
	VMOVDQU32 448(SI), Z7
	VMOVUPS (R8), Z16
	VPBROADCASTD (R12), Z8
	VPDPBUSD.BCST 2(BX), Z0, Z8
	VPDPBUSD.BCST 6(BX), Z1, Z8
	VPDPBUSD.BCST 10(BX), Z2, Z8
	VPDPBUSD.BCST 14(BX), Z3, Z8
	VPDPBUSD.BCST 18(BX), Z4, Z8
	VPDPBUSD.BCST 22(BX), Z5, Z8
	VPDPBUSD.BCST 26(BX), Z6, Z8
	VPDPBUSD.BCST 30(BX), Z7, Z8
	VCVTDQ2PS Z8, Z8
	VMULPS.BCST (R11), Z16, Z17
	VMULPS Z17, Z8, Z8
	VADDPS Z8, Z12, Z12
	ADDQ $512, SI
	ADDQ $64, R8
	ADDQ $34, BX
	ADDQ $4, R12
	ADDQ $4, R11
	DECQ CX
	JNZ  qdot16x1VNNIloop

	MOVQ out+56(FP), DX
	MOVQ ldo+64(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	VMOVUPS Z12, (DX)
	VZEROUPPER
	RET
