//go:build amd64 && !noasm

#include "textflag.h"

// AVX-512 VNNI kernel of the quantized products of many activation rows
// (prefill), selected at run time (prefill_vnni_amd64.go). It gives the
// bits of dotQ8_0Generic / dotQ4_0Generic: per block the products are
// summed exactly in int32, converted, multiplied by dw·dx (exact) with one
// rounding and added to the running float32 sum block by block; only the
// way the exact integer sums are formed changes, and four weight rows meet
// four activation rows per block.
//
// The weights come as a packed quad (packQuad): per block four rows of 32
// unsigned codes u = w + off (off = 128 for Q8_0, the sign bit flipped; 8
// for Q4_0, the nibbles as they are), and their four scales as float32.
// VPDPBUSD(u, x) sums u·x exactly; off·Σx, formed once per activation row
// and block by the caller, is subtracted from it: the block sum is
// Σ(u - off)·x = Σ w·x.

// func qdot4x4VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xoff *int32, out *float32, ldo int)
// out[i*ldo+r] = row r of the quad · activation row i (Q8_0 rows xstride
// bytes apart) for r, i < 4, over nb > 0 blocks; xoff[i*nb+b] is off·Σx
// of block b of activation row i.
TEXT ·qdot4x4VNNI(SB), NOSPLIT, $0-64
	MOVQ panel+0(FP), SI
	MOVQ dw+8(FP), R8
	MOVQ x+16(FP), BX
	MOVQ xstride+24(FP), R9
	LEAQ (R9)(R9*2), R10
	MOVQ nb+32(FP), CX
	MOVQ xoff+40(FP), R12
	MOVQ nb+32(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R14
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31

qloop:
	VMOVDQU32 2(BX), Y20
	VMOVDQU32 2(BX)(R9*1), Y21
	VMOVDQU32 2(BX)(R9*2), Y22
	VMOVDQU32 2(BX)(R10*1), Y23
	VMOVDQU32 0(SI), Y16
	VMOVDQU32 32(SI), Y17
	VMOVDQU32 64(SI), Y18
	VMOVDQU32 96(SI), Y19

	VPXORD Y0, Y0, Y0
	VPDPBUSD Y20, Y16, Y0
	VPXORD Y1, Y1, Y1
	VPDPBUSD Y20, Y17, Y1
	VPXORD Y2, Y2, Y2
	VPDPBUSD Y20, Y18, Y2
	VPXORD Y3, Y3, Y3
	VPDPBUSD Y20, Y19, Y3
	VPXORD Y4, Y4, Y4
	VPDPBUSD Y21, Y16, Y4
	VPXORD Y5, Y5, Y5
	VPDPBUSD Y21, Y17, Y5
	VPXORD Y6, Y6, Y6
	VPDPBUSD Y21, Y18, Y6
	VPXORD Y7, Y7, Y7
	VPDPBUSD Y21, Y19, Y7
	VPXORD Y8, Y8, Y8
	VPDPBUSD Y22, Y16, Y8
	VPXORD Y9, Y9, Y9
	VPDPBUSD Y22, Y17, Y9
	VPXORD Y10, Y10, Y10
	VPDPBUSD Y22, Y18, Y10
	VPXORD Y11, Y11, Y11
	VPDPBUSD Y22, Y19, Y11
	VPXORD Y12, Y12, Y12
	VPDPBUSD Y23, Y16, Y12
	VPXORD Y13, Y13, Y13
	VPDPBUSD Y23, Y17, Y13
	VPXORD Y14, Y14, Y14
	VPDPBUSD Y23, Y18, Y14
	VPXORD Y15, Y15, Y15
	VPDPBUSD Y23, Y19, Y15

	// Per token, per 128-bit half: [r0 r1 r2 r3] partial sums.
	VPHADDD Y1, Y0, Y0
	VPHADDD Y3, Y2, Y2
	VPHADDD Y2, Y0, Y0
	VPHADDD Y5, Y4, Y4
	VPHADDD Y7, Y6, Y6
	VPHADDD Y6, Y4, Y4
	VPHADDD Y9, Y8, Y8
	VPHADDD Y11, Y10, Y10
	VPHADDD Y10, Y8, Y8
	VPHADDD Y13, Y12, Y12
	VPHADDD Y15, Y14, Y14
	VPHADDD Y14, Y12, Y12

	// Halves added, tokens paired: Y1 = [t0 r0..r3 | t1 r0..r3], Y9 = t2, t3.
	VPERM2I128 $0x20, Y4, Y0, Y1
	VPERM2I128 $0x31, Y4, Y0, Y3
	VPADDD     Y3, Y1, Y1
	VPERM2I128 $0x20, Y12, Y8, Y9
	VPERM2I128 $0x31, Y12, Y8, Y11
	VPADDD     Y11, Y9, Y9

	// Less off·Σx of each token's block.
	VPBROADCASTD (R12), X2
	VPBROADCASTD (R12)(R13*1), X3
	VINSERTI128  $1, X3, Y2, Y2
	VPSUBD       Y2, Y1, Y1
	VPBROADCASTD (R12)(R13*2), X2
	VPBROADCASTD (R12)(R14*1), X3
	VINSERTI128  $1, X3, Y2, Y2
	VPSUBD       Y2, Y9, Y9
	VCVTDQ2PS  Y1, Y1
	VCVTDQ2PS  Y9, Y9

	// d = dw·dx: the four dw in both halves, each half one token's dx.
	VBROADCASTF128 (R8), Y2
	VPBROADCASTW   (BX), X3
	VPBROADCASTW   (BX)(R9*1), X5
	VPUNPCKLQDQ    X5, X3, X3
	VCVTPH2PS      X3, Y3
	VMULPS         Y3, Y2, Y3
	VPBROADCASTW   (BX)(R9*2), X6
	VPBROADCASTW   (BX)(R10*1), X7
	VPUNPCKLQDQ    X7, X6, X6
	VCVTPH2PS      X6, Y6
	VMULPS         Y6, Y2, Y6

	VMULPS Y3, Y1, Y1
	VADDPS Y1, Y30, Y30
	VMULPS Y6, Y9, Y9
	VADDPS Y9, Y31, Y31

	ADDQ $128, SI
	ADDQ $16, R8
	ADDQ $34, BX
	ADDQ $4, R12
	DECQ CX
	JNZ  qloop

	MOVQ out+48(FP), DX
	MOVQ ldo+56(FP), R11
	SHLQ $2, R11
	VMOVAPS Y30, Y0
	VMOVAPS Y31, Y1
	VMOVUPS X0, (DX)
	VEXTRACTF128 $1, Y0, X2
	VMOVUPS X2, (DX)(R11*1)
	LEAQ (DX)(R11*2), DX
	VMOVUPS X1, (DX)
	VEXTRACTF128 $1, Y1, X3
	VMOVUPS X3, (DX)(R11*1)
	VZEROUPPER
	RET
