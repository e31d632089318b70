//go:build amd64 && !noasm

#include "textflag.h"

// AVX2 kernels for Q8_0·Q8_0 and Q4_0·Q8_0 dot products. Each must give the
// bits of dotQ8_0Generic / dotQ4_0Generic in dot.go: per block the int8
// products are summed exactly in int32 (their order does not matter), the
// sum is converted to float32, multiplied by dw·dx (exact in float32) with
// one rounding, and added to the running float32 sum, block by block.
//
// Q8_0 pairs: VPMOVSXBW widens 16 int8 to int16, VPMADDWD multiplies and adds
// neighbours into int32. Exact for every int8, -128 included.
//
// Q4_0 pairs: the nibbles u in [0,15] are unsigned bytes, so VPMADDUBSW(u, x)
// gives u[2i]x[2i]+u[2i+1]x[2i+1] in int16 without saturation (|·| ≤ 3840);
// subtracting VPMADDUBSW(8, x) gives the products of u-8. VPMADDWD with ones
// widens to int32.
//
// Q8_0 x4 pairs: VPMADDUBSW(|w|, sign(w)·x) as ggml does, with the sign
// moved onto x: |w| ≤ 128 is a valid unsigned byte even for w = -128, and
// x comes from quantizeQ8_0, whose codes lie in [-127, 127], so negating it
// is exact and pair sums stay within ±32512 (no saturation). Only the
// single-row kernel, which DotQ8_0 exposes to any bytes, keeps VPMOVSXBW.
//
// The x4 kernels run four rows against one x, so the x side is loaded once
// per block, and they reduce the four rows' int32 vectors together with
// VPHADDD into one vector of four block sums; the four running sums live in
// the lanes of X10, each added in block order like the scalar code.

// LOAD_DW4 puts the f16 scales dw of the current block of the four rows
// (SI, R9, R10, R11) into X11 as float32; the VMOVD breaks the dependency
// on the previous block.
#define LOAD_DW4 \
	MOVWLZX   (SI), AX \
	VMOVD     AX, X11 \
	VPINSRW   $1, (R9), X11, X11 \
	VPINSRW   $2, (R10), X11, X11 \
	VPINSRW   $3, (R11), X11, X11 \
	VCVTPH2PS X11, X11

// func dotQ8_0AVX2(w, x *byte, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), BX
	MOVQ   nb+16(FP), CX
	VXORPS X10, X10, X10

q8x1loop:
	VPMOVSXBW 2(BX), Y0
	VPMOVSXBW 18(BX), Y1
	VPMOVSXBW 2(SI), Y2
	VPMOVSXBW 18(SI), Y3
	VPMADDWD  Y0, Y2, Y2
	VPMADDWD  Y1, Y3, Y3
	VPADDD    Y3, Y2, Y2

	// Horizontal int32 sum of Y2 into lane 0.
	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	VPSHUFD      $0x4e, X2, X3
	VPADDD       X3, X2, X2
	VPSHUFD      $0xb1, X2, X3
	VPADDD       X3, X2, X2
	VCVTDQ2PS    X2, X2

	// d = dw·dx from the two fp16 scales.
	MOVWLZX   (SI), AX
	VMOVD     AX, X4
	VPINSRW   $1, (BX), X4, X4
	VCVTPH2PS X4, X4
	VMOVSHDUP X4, X5
	VMULSS    X5, X4, X4

	VMULSS X4, X2, X2
	VADDSS X2, X10, X10

	ADDQ $34, SI
	ADDQ $34, BX
	DECQ CX
	JNZ  q8x1loop

	VZEROUPPER
	MOVSS X10, ret+24(FP)
	RET

// func dotQ8_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32, pf int)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-48
	MOVQ   w+0(FP), SI
	MOVQ   stride+8(FP), DX
	MOVQ   x+16(FP), BX
	MOVQ   nb+24(FP), CX
	MOVQ   out+32(FP), DI
	LEAQ   (SI)(DX*1), R9
	LEAQ   (R9)(DX*1), R10
	LEAQ   (R10)(DX*1), R11
	MOVQ   pf+40(FP), R12
	ADDQ   SI, R12
	VXORPS X10, X10, X10
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q8x4loop:
	// The four rows are one contiguous stream of 4·stride bytes; R12 runs
	// pf bytes ahead of it (prefetchAhead), covering the 136 bytes an iteration consumes
	// (as simd's dot1x4F16AVX): the hardware prefetcher alone leaves large
	// matrices short of bandwidth.
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	ADDQ       $136, R12
	VMOVDQU 2(BX), Y0

	VMOVDQU    2(SI), Y2
	VPSIGNB    Y2, Y0, Y3
	VPABSB     Y2, Y2
	VPMADDUBSW Y3, Y2, Y2
	VPMADDWD   Y15, Y2, Y2

	VMOVDQU    2(R9), Y4
	VPSIGNB    Y4, Y0, Y5
	VPABSB     Y4, Y4
	VPMADDUBSW Y5, Y4, Y4
	VPMADDWD   Y15, Y4, Y4

	VMOVDQU    2(R10), Y6
	VPSIGNB    Y6, Y0, Y7
	VPABSB     Y6, Y6
	VPMADDUBSW Y7, Y6, Y6
	VPMADDWD   Y15, Y6, Y6

	VMOVDQU    2(R11), Y8
	VPSIGNB    Y8, Y0, Y9
	VPABSB     Y8, Y8
	VPMADDUBSW Y9, Y8, Y8
	VPMADDWD   Y15, Y8, Y8

	// Per 128-bit half: [r0 r1 r2 r3] partial sums; then add the halves.
	VPHADDD      Y4, Y2, Y2
	VPHADDD      Y8, Y6, Y6
	VPHADDD      Y6, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	VCVTDQ2PS    X2, X2

	// Four dw in X11, dx in every lane of X12.
	LOAD_DW4
	VPBROADCASTW (BX), X12
	VCVTPH2PS    X12, X12
	VMULPS       X12, X11, X11

	VMULPS X11, X2, X2
	VADDPS X2, X10, X10

	ADDQ $34, SI
	ADDQ $34, R9
	ADDQ $34, R10
	ADDQ $34, R11
	ADDQ $34, BX
	DECQ CX
	JNZ  q8x4loop

	VMOVUPS X10, (DI)
	VZEROUPPER
	RET

// func dotQ4_0AVX2(w, x *byte, nb int) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), BX
	MOVQ   nb+16(FP), CX
	VXORPS X10, X10, X10

	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x08080808, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q4x1loop:
	VMOVDQU    2(BX), Y0
	VPMADDUBSW Y0, Y14, Y1

	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y13, Y2, Y2
	VPMADDUBSW  Y0, Y2, Y2
	VPSUBW      Y1, Y2, Y2
	VPMADDWD    Y15, Y2, Y2

	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	VPSHUFD      $0x4e, X2, X3
	VPADDD       X3, X2, X2
	VPSHUFD      $0xb1, X2, X3
	VPADDD       X3, X2, X2
	VCVTDQ2PS    X2, X2

	MOVWLZX   (SI), AX
	VMOVD     AX, X4
	VPINSRW   $1, (BX), X4, X4
	VCVTPH2PS X4, X4
	VMOVSHDUP X4, X5
	VMULSS    X5, X4, X4

	VMULSS X4, X2, X2
	VADDSS X2, X10, X10

	ADDQ $18, SI
	ADDQ $34, BX
	DECQ CX
	JNZ  q4x1loop

	VZEROUPPER
	MOVSS X10, ret+24(FP)
	RET

// func dotQ4_0x4AVX2(w *byte, stride int, x *byte, nb int, out *[4]float32, pf int)
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-48
	MOVQ   w+0(FP), SI
	MOVQ   stride+8(FP), DX
	MOVQ   x+16(FP), BX
	MOVQ   nb+24(FP), CX
	MOVQ   out+32(FP), DI
	LEAQ   (SI)(DX*1), R9
	LEAQ   (R9)(DX*1), R10
	LEAQ   (R10)(DX*1), R11
	MOVQ   pf+40(FP), R12
	ADDQ   SI, R12
	VXORPS X10, X10, X10

	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x08080808, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q4x4loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	ADDQ       $72, R12
	VMOVDQU    2(BX), Y0
	VPMADDUBSW Y0, Y14, Y1

	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y13, Y2, Y2
	VPMADDUBSW  Y0, Y2, Y2
	VPSUBW      Y1, Y2, Y2
	VPMADDWD    Y15, Y2, Y2

	VMOVDQU     2(R9), X4
	VPSRLW      $4, X4, X5
	VINSERTI128 $1, X5, Y4, Y4
	VPAND       Y13, Y4, Y4
	VPMADDUBSW  Y0, Y4, Y4
	VPSUBW      Y1, Y4, Y4
	VPMADDWD    Y15, Y4, Y4

	VMOVDQU     2(R10), X6
	VPSRLW      $4, X6, X7
	VINSERTI128 $1, X7, Y6, Y6
	VPAND       Y13, Y6, Y6
	VPMADDUBSW  Y0, Y6, Y6
	VPSUBW      Y1, Y6, Y6
	VPMADDWD    Y15, Y6, Y6

	VMOVDQU     2(R11), X8
	VPSRLW      $4, X8, X9
	VINSERTI128 $1, X9, Y8, Y8
	VPAND       Y13, Y8, Y8
	VPMADDUBSW  Y0, Y8, Y8
	VPSUBW      Y1, Y8, Y8
	VPMADDWD    Y15, Y8, Y8

	VPHADDD      Y4, Y2, Y2
	VPHADDD      Y8, Y6, Y6
	VPHADDD      Y6, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	VCVTDQ2PS    X2, X2

	LOAD_DW4
	VPBROADCASTW (BX), X12
	VCVTPH2PS    X12, X12
	VMULPS       X12, X11, X11

	VMULPS X11, X2, X2
	VADDPS X2, X10, X10

	ADDQ $18, SI
	ADDQ $18, R9
	ADDQ $18, R10
	ADDQ $18, R11
	ADDQ $34, BX
	DECQ CX
	JNZ  q4x4loop

	VMOVUPS X10, (DI)
	VZEROUPPER
	RET

// The x4x2 kernels are the x4 kernels for two activation rows at once (a
// prefill's tokens): each block of the four weight rows is loaded, and its
// Q4_0 nibbles unpacked (or its Q8_0 magnitudes taken), once for both. Each
// of the eight sums is still added block by block in the scalar order, so
// out[0:4] and out[4:8] are the x4 kernel's bits for x and for x+xstride.
// The Q8_0 kernel reads the weights' signs again from memory (VPSIGNB's
// memory operand) rather than keep them in registers.

// One activation row (x in a register, acc its four sums) against the four
// weight rows of a block: the block sums, scaled by dw·dx, added to acc.
// Q8: |w| in Y2, Y4, Y6, Y8, the signs read again from memory; Q4: the
// unpacked nibbles in Y2, Y4, Y6, Y8, dw in X11 for both.
#define Q8_X4X2_ROW(x, acc) \
	VMOVDQU    2(x), Y0 \
	VPSIGNB    2(SI), Y0, Y3 \
	VPMADDUBSW Y3, Y2, Y3 \
	VPMADDWD   Y15, Y3, Y3 \
	VPSIGNB    2(R9), Y0, Y5 \
	VPMADDUBSW Y5, Y4, Y5 \
	VPMADDWD   Y15, Y5, Y5 \
	VPSIGNB    2(R10), Y0, Y7 \
	VPMADDUBSW Y7, Y6, Y7 \
	VPMADDWD   Y15, Y7, Y7 \
	VPSIGNB    2(R11), Y0, Y9 \
	VPMADDUBSW Y9, Y8, Y9 \
	VPMADDWD   Y15, Y9, Y9 \
	VPHADDD      Y5, Y3, Y3 \
	VPHADDD      Y9, Y7, Y7 \
	VPHADDD      Y7, Y3, Y3 \
	VEXTRACTI128 $1, Y3, X5 \
	VPADDD       X5, X3, X3 \
	VCVTDQ2PS    X3, X3 \
	VPBROADCASTW (x), X1 \
	VCVTPH2PS    X1, X1 \
	VMULPS       X1, X11, X1 \
	VMULPS       X1, X3, X3 \
	VADDPS       X3, acc, acc

#define Q4_X4X2_ROW(x, acc) \
	VMOVDQU    2(x), Y0 \
	VPMADDUBSW Y0, Y14, Y1 \
	VPMADDUBSW Y0, Y2, Y3 \
	VPSUBW     Y1, Y3, Y3 \
	VPMADDWD   Y15, Y3, Y3 \
	VPMADDUBSW Y0, Y4, Y5 \
	VPSUBW     Y1, Y5, Y5 \
	VPMADDWD   Y15, Y5, Y5 \
	VPMADDUBSW Y0, Y6, Y7 \
	VPSUBW     Y1, Y7, Y7 \
	VPMADDWD   Y15, Y7, Y7 \
	VPMADDUBSW Y0, Y8, Y9 \
	VPSUBW     Y1, Y9, Y9 \
	VPMADDWD   Y15, Y9, Y9 \
	VPHADDD      Y5, Y3, Y3 \
	VPHADDD      Y9, Y7, Y7 \
	VPHADDD      Y7, Y3, Y3 \
	VEXTRACTI128 $1, Y3, X5 \
	VPADDD       X5, X3, X3 \
	VCVTDQ2PS    X3, X3 \
	VPBROADCASTW (x), X1 \
	VCVTPH2PS    X1, X1 \
	VMULPS       X1, X11, X1 \
	VMULPS       X1, X3, X3 \
	VADDPS       X3, acc, acc

// func dotQ8_0x4x2AVX2(w *byte, stride int, x *byte, xstride, nb int, out *[8]float32, pf int)
TEXT ·dotQ8_0x4x2AVX2(SB), NOSPLIT, $0-56
	MOVQ   w+0(FP), SI
	MOVQ   stride+8(FP), DX
	MOVQ   x+16(FP), BX
	MOVQ   xstride+24(FP), R8
	LEAQ   (BX)(R8*1), R13
	MOVQ   nb+32(FP), CX
	MOVQ   out+40(FP), DI
	LEAQ   (SI)(DX*1), R9
	LEAQ   (R9)(DX*1), R10
	LEAQ   (R10)(DX*1), R11
	MOVQ   pf+48(FP), R12
	ADDQ   SI, R12
	VXORPS X10, X10, X10
	VXORPS X12, X12, X12
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q8x4x2loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	ADDQ       $136, R12

	VPABSB 2(SI), Y2
	VPABSB 2(R9), Y4
	VPABSB 2(R10), Y6
	VPABSB 2(R11), Y8

	LOAD_DW4

	Q8_X4X2_ROW(BX, X10)

	Q8_X4X2_ROW(R13, X12)

	ADDQ $34, SI
	ADDQ $34, R9
	ADDQ $34, R10
	ADDQ $34, R11
	ADDQ $34, BX
	ADDQ $34, R13
	DECQ CX
	JNZ  q8x4x2loop

	VMOVUPS X10, (DI)
	VMOVUPS X12, 16(DI)
	VZEROUPPER
	RET

// Q4_0: the four rows' nibbles, unpacked as in dotQ4_0x4AVX2, stay in
// Y2, Y4, Y6, Y8 for both activation rows.

// func dotQ4_0x4x2AVX2(w *byte, stride int, x *byte, xstride, nb int, out *[8]float32, pf int)
TEXT ·dotQ4_0x4x2AVX2(SB), NOSPLIT, $0-56
	MOVQ   w+0(FP), SI
	MOVQ   stride+8(FP), DX
	MOVQ   x+16(FP), BX
	MOVQ   xstride+24(FP), R8
	LEAQ   (BX)(R8*1), R13
	MOVQ   nb+32(FP), CX
	MOVQ   out+40(FP), DI
	LEAQ   (SI)(DX*1), R9
	LEAQ   (R9)(DX*1), R10
	LEAQ   (R10)(DX*1), R11
	MOVQ   pf+48(FP), R12
	ADDQ   SI, R12
	VXORPS X10, X10, X10
	VXORPS X12, X12, X12

	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x08080808, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x00010001, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q4x4x2loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	ADDQ       $72, R12
	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y13, Y2, Y2
	VMOVDQU     2(R9), X4
	VPSRLW      $4, X4, X5
	VINSERTI128 $1, X5, Y4, Y4
	VPAND       Y13, Y4, Y4
	VMOVDQU     2(R10), X6
	VPSRLW      $4, X6, X7
	VINSERTI128 $1, X7, Y6, Y6
	VPAND       Y13, Y6, Y6
	VMOVDQU     2(R11), X8
	VPSRLW      $4, X8, X9
	VINSERTI128 $1, X9, Y8, Y8
	VPAND       Y13, Y8, Y8

	LOAD_DW4

	Q4_X4X2_ROW(BX, X10)

	Q4_X4X2_ROW(R13, X12)

	ADDQ $18, SI
	ADDQ $18, R9
	ADDQ $18, R10
	ADDQ $18, R11
	ADDQ $34, BX
	ADDQ $34, R13
	DECQ CX
	JNZ  q4x4x2loop

	VMOVUPS X10, (DI)
	VMOVUPS X12, 16(DI)
	VZEROUPPER
	RET

// Dword order that undoes the lane interleaving of the two packs below.
DATA q8PackOrder<>+0(SB)/4, $0
DATA q8PackOrder<>+4(SB)/4, $4
DATA q8PackOrder<>+8(SB)/4, $1
DATA q8PackOrder<>+12(SB)/4, $5
DATA q8PackOrder<>+16(SB)/4, $2
DATA q8PackOrder<>+20(SB)/4, $6
DATA q8PackOrder<>+24(SB)/4, $3
DATA q8PackOrder<>+28(SB)/4, $7
GLOBL q8PackOrder<>(SB), RODATA|NOPTR, $32

// roundAway: Y holds s = trunc(2t) as int32; leaves roundf(t), computed as
// (s + (s>>31 | 1)) / 2 with the division truncating, like Go's.
#define ROUND_AWAY(Y, T) \
	VPSRAD $31, Y, T \
	VPOR   Y12, T, T \
	VPADDD T, Y, Y \
	VPSRLD $31, Y, T \
	VPADDD T, Y, Y \
	VPSRAD $1, Y, Y

// func quantizeQ8_0AVX2(dst *byte, src *float32, nb int)
//
// The steps and roundings of quantizeQ8_0Generic: amax by VMAXPS of |x|,
// d = amax/127 and id = 1/d by division (id = 0 when d = 0), d to fp16 by
// VCVTPS2PH with round to nearest even, t = x·id, s = trunc(2t).
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX

	MOVL         $0x7fffffff, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15           // |·| mask
	MOVL         $0x42fe0000, AX
	VMOVD        AX, X14            // 127.0
	MOVL         $0x3f800000, AX
	VMOVD        AX, X13            // 1.0
	MOVL         $1, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12           // int32 ones
	VMOVDQU      q8PackOrder<>(SB), Y11

quantq8loop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VANDPS       Y15, Y2, Y6
	VANDPS       Y15, Y3, Y7
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0x4e, X4, X5
	VMAXPS       X5, X4, X4
	VMOVSHDUP    X4, X5
	VMAXSS       X5, X4, X4         // amax

	VDIVSS    X14, X4, X4           // d = amax / 127
	VCVTPS2PH $0, X4, X5
	VMOVD     X5, AX
	MOVW      AX, (DI)
	VDIVSS    X4, X13, X6           // 1/d
	VXORPS    X7, X7, X7
	VCMPSS    $4, X7, X4, X7        // d != 0
	VANDPS    X7, X6, X6
	VBROADCASTSS X6, Y6             // id

	VMULPS     Y6, Y0, Y0
	VMULPS     Y6, Y1, Y1
	VMULPS     Y6, Y2, Y2
	VMULPS     Y6, Y3, Y3
	VADDPS     Y0, Y0, Y0
	VADDPS     Y1, Y1, Y1
	VADDPS     Y2, Y2, Y2
	VADDPS     Y3, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	ROUND_AWAY(Y0, Y4)
	ROUND_AWAY(Y1, Y5)
	ROUND_AWAY(Y2, Y6)
	ROUND_AWAY(Y3, Y7)

	// Codes are within [-127, 127]: the saturating packs only narrow.
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y11, Y0
	VMOVDQU   Y0, 2(DI)

	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  quantq8loop

	VZEROUPPER
	RET
