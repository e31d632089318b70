//go:build amd64 && !noasm

#include "textflag.h"

// AVX2 kernels for the K-quant dot products against Q8_K activations. Each
// must give the bits of its portable model in kquant.go: per super-block the
// integer sums are exact in int32 (so their order does not matter), and the
// float32 tail is the same scalar operations in the same order.
//
// The codes are unsigned bytes (Q4_K 0..15, Q6_K 0..63), so
// VPMADDUBSW(code, x) sums neighbouring products into int16 without
// saturation (|·| ≤ 2·63·128 = 16128), and VPMADDWD with the sub-block
// scale, broadcast as int16, multiplies and widens to int32.

DATA nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nib<>(SB), RODATA|NOPTR, $8
DATA hi2<>+0(SB)/8, $0x3030303030303030
GLOBL hi2<>(SB), RODATA|NOPTR, $8
DATA b32<>+0(SB)/8, $0x2020202020202020
GLOBL b32<>(SB), RODATA|NOPTR, $8
DATA one<>+0(SB)/8, $0x0101010101010101
GLOBL one<>(SB), RODATA|NOPTR, $8

// HSUMD reduces the eight int32 lanes of Y(n) to lane 0 of X(n), as float32.
#define HSUMD(yn, xn, xt) \
	VEXTRACTI128 $1, yn, xt; \
	VPADDD       xt, xn, xn; \
	VPSHUFD      $0x4e, xn, xt; \
	VPADDD       xt, xn, xn; \
	VPSHUFD      $0xb1, xn, xt; \
	VPADDD       xt, xn, xn; \
	VCVTDQ2PS    xn, xn

// Q4KPAIR handles sub-blocks 2p and 2p+1: the 32 bytes at qoff(SI) hold
// their codes in the low and high nibbles, the x codes are at xoff(BX) and
// xoff+32(BX), the scales are int16 words at soff(SP) and soff+2(SP).
#define Q4KPAIR(qoff, xoff, soff) \
	VMOVDQU      qoff(SI), Y0; \
	VPSRLW       $4, Y0, Y1; \
	VPAND        Y15, Y0, Y0; \
	VPAND        Y15, Y1, Y1; \
	VPMADDUBSW   xoff(BX), Y0, Y0; \
	VPMADDUBSW   xoff+32(BX), Y1, Y1; \
	VPBROADCASTW soff(SP), Y2; \
	VPBROADCASTW soff+2(SP), Y3; \
	VPMADDWD     Y2, Y0, Y0; \
	VPMADDWD     Y3, Y1, Y1; \
	VPADDD       Y0, Y8, Y8; \
	VPADDD       Y1, Y8, Y8

// The row loop of the kernels: KENTRY loads the arguments (out → DI, rows →
// R12, w → R13), KROW starts a row (SI walks its blocks, BX the Q8_K
// blocks of x, CX counts them, X10 holds the sum), KNEXTROW stores the sum
// and moves to the next row, jumping to label while rows remain.
#define KENTRY \
	MOVQ out+0(FP), DI; \
	MOVQ rows+40(FP), R12; \
	MOVQ w+8(FP), R13

#define KROW \
	MOVQ   R13, SI; \
	MOVQ   x+24(FP), BX; \
	MOVQ   nb+32(FP), CX; \
	VXORPS X10, X10, X10

#define KNEXTROW(label) \
	VMOVSS X10, (DI); \
	ADDQ   $4, DI; \
	ADDQ   rb+16(FP), R13; \
	DECQ   R12; \
	JNZ    label

// K45SCALES unpacks a Q4_K/Q5_K block's 6-bit scales and mins as ggml does
// (utmp, kmask1..3), stores the scales as eight int16 words at 0(SP), and
// leaves msum = Σ_j m_j · (bsums[2j] + bsums[2j+1]) as float32 in lane 0 of
// X9. It clobbers AX, DX, R9, R10, R11, X0..X3.
#define K45SCALES \
	MOVL      4(SI), AX; \
	MOVL      8(SI), DX; \
	MOVL      12(SI), R9; \
	MOVL      R9, R10; \
	SHRL      $4, R10; \
	ANDL      $0x0f0f0f0f, R10; \
	MOVL      DX, R11; \
	SHRL      $6, R11; \
	ANDL      $0x03030303, R11; \
	SHLL      $4, R11; \
	ORL       R11, R10; \
	MOVL      DX, R11; \
	ANDL      $0x3f3f3f3f, R11; \
	ANDL      $0x0f0f0f0f, R9; \
	MOVL      AX, DX; \
	SHRL      $6, DX; \
	ANDL      $0x03030303, DX; \
	SHLL      $4, DX; \
	ORL       R9, DX; \
	MOVL      R11, R9; \
	ANDL      $0x3f3f3f3f, AX; \
	SHLQ      $32, DX; \
	ORQ       DX, AX; \
	VMOVQ     AX, X0; \
	VPMOVZXBW X0, X0; \
	VMOVDQU   X0, 0(SP); \
	SHLQ      $32, R10; \
	ORQ       R10, R9; \
	VMOVQ     R9, X1; \
	VPMOVZXBW X1, X1; \
	VMOVDQU   260(BX), X2; \
	VMOVDQU   276(BX), X3; \
	VPHADDW   X3, X2, X2; \
	VPMADDWD  X2, X1, X9; \
	VPSHUFD   $0x4e, X9, X3; \
	VPADDD    X3, X9, X9; \
	VPSHUFD   $0xb1, X9, X3; \
	VPADDD    X3, X9, X9; \
	VCVTDQ2PS X9, X9

// K45TAIL reduces isum (Y8) and adds this block's term to the row's sum in
// X10: sum += float32((dw·dx)·isum) − float32((dmin·dx)·msum).
#define K45TAIL \
	HSUMD(Y8, X8, X3); \
	VMOVSS    0(BX), X4; \
	MOVL      0(SI), AX; \
	VMOVD     AX, X5; \
	VCVTPH2PS X5, X5; \
	VMOVSHDUP X5, X7; \
	VMULSS    X4, X5, X6; \
	VMULSS    X4, X7, X7; \
	VMULSS    X8, X6, X6; \
	VMULSS    X9, X7, X7; \
	VSUBSS    X7, X6, X6; \
	VADDSS    X6, X10, X10

// func rowsQ4_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)
// Row r of w starts at w + r·rb; rows > 0, nb > 0.
TEXT ·rowsQ4_KAVX2(SB), NOSPLIT, $32-48
	KENTRY
	VPBROADCASTB nib<>(SB), Y15

q4krow:
	KROW

q4kblock:
	K45SCALES
	VPXOR Y8, Y8, Y8
	Q4KPAIR(16, 4, 0)
	Q4KPAIR(48, 68, 4)
	Q4KPAIR(80, 132, 8)
	Q4KPAIR(112, 196, 12)
	K45TAIL

	ADDQ $144, SI
	ADDQ $292, BX
	DECQ CX
	JNZ  q4kblock

	KNEXTROW(q4krow)

	VZEROUPPER
	RET

// Q5KPAIR is Q4KPAIR for Q5_K: the nibbles at qoff(SI), their fifth bits in
// bits sh and sh+1 of the qh bytes held in Y12 (Y14: 0x01 in every byte).
#define Q5KPAIR(qoff, xoff, soff, sh) \
	VMOVDQU      qoff(SI), Y0; \
	VPSRLW       $4, Y0, Y1; \
	VPAND        Y15, Y0, Y0; \
	VPAND        Y15, Y1, Y1; \
	VPSRLW       $sh, Y12, Y4; \
	VPAND        Y14, Y4, Y5; \
	VPSLLW       $4, Y5, Y5; \
	VPOR         Y5, Y0, Y0; \
	VPSRLW       $1, Y4, Y4; \
	VPAND        Y14, Y4, Y4; \
	VPSLLW       $4, Y4, Y4; \
	VPOR         Y4, Y1, Y1; \
	VPMADDUBSW   xoff(BX), Y0, Y0; \
	VPMADDUBSW   xoff+32(BX), Y1, Y1; \
	VPBROADCASTW soff(SP), Y2; \
	VPBROADCASTW soff+2(SP), Y3; \
	VPMADDWD     Y2, Y0, Y0; \
	VPMADDWD     Y3, Y1, Y1; \
	VPADDD       Y0, Y8, Y8; \
	VPADDD       Y1, Y8, Y8

// func rowsQ5_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)
TEXT ·rowsQ5_KAVX2(SB), NOSPLIT, $32-48
	KENTRY
	VPBROADCASTB nib<>(SB), Y15
	VPBROADCASTB one<>(SB), Y14

q5krow:
	KROW

q5kblock:
	K45SCALES
	VMOVDQU 16(SI), Y12
	VPXOR   Y8, Y8, Y8
	Q5KPAIR(48, 4, 0, 0)
	Q5KPAIR(80, 68, 4, 2)
	Q5KPAIR(112, 132, 8, 4)
	Q5KPAIR(144, 196, 12, 6)
	K45TAIL

	ADDQ $176, SI
	ADDQ $292, BX
	DECQ CX
	JNZ  q5kblock

	KNEXTROW(q5krow)

	VZEROUPPER
	RET

// Q6KQUAD handles the 32 values of one quarter k of a half: Y(code) holds
// their unsigned 6-bit codes, the x codes are at xoff(BX), the scales of
// their two 16-value groups are int16 words at soff(SP) and soff+2(SP).
#define Q6KQUAD(code, xoff, soff) \
	VMOVDQU      xoff(BX), Y5; \
	VPMADDUBSW   Y5, code, code; \
	VPMADDUBSW   Y5, Y13, Y5; \
	VPSUBW       Y5, code, code; \
	VPBROADCASTW soff(SP), X6; \
	VPBROADCASTW soff+2(SP), X7; \
	VINSERTI128  $1, X7, Y6, Y6; \
	VPMADDWD     Y6, code, code; \
	VPADDD       code, Y8, Y8

// Q6KHALF handles values [128h, 128h+128): ql at qloff(SI), qh at qhoff(SI),
// x at xoff(BX), the eight scales at soff(SP).
#define Q6KHALF(qloff, qhoff, xoff, soff) \
	VMOVDQU qloff(SI), Y0; \
	VMOVDQU qloff+32(SI), Y1; \
	VMOVDQU qhoff(SI), Y2; \
	VPSRLW  $4, Y0, Y3; \
	VPAND   Y15, Y3, Y3; \
	VPAND   Y15, Y0, Y0; \
	VPSRLW  $4, Y1, Y4; \
	VPAND   Y15, Y4, Y4; \
	VPAND   Y15, Y1, Y1; \
	VPSLLW  $4, Y2, Y5; \
	VPAND   Y14, Y5, Y5; \
	VPOR    Y5, Y0, Y0; \
	VPSLLW  $2, Y2, Y5; \
	VPAND   Y14, Y5, Y5; \
	VPOR    Y5, Y1, Y1; \
	VPAND   Y14, Y2, Y5; \
	VPOR    Y5, Y3, Y3; \
	VPSRLW  $2, Y2, Y5; \
	VPAND   Y14, Y5, Y5; \
	VPOR    Y5, Y4, Y4; \
	Q6KQUAD(Y0, xoff, soff); \
	Q6KQUAD(Y1, xoff+32, soff+4); \
	Q6KQUAD(Y3, xoff+64, soff+8); \
	Q6KQUAD(Y4, xoff+96, soff+12)

// func rowsQ6_KAVX2(out *float32, w *byte, rb int, x *byte, nb, rows int)
TEXT ·rowsQ6_KAVX2(SB), NOSPLIT, $32-48
	KENTRY
	VPBROADCASTB nib<>(SB), Y15
	VPBROADCASTB hi2<>(SB), Y14
	VPBROADCASTB b32<>(SB), Y13

q6krow:
	KROW

q6kblock:
	VPMOVSXBW 192(SI), Y0
	VMOVDQU   Y0, 0(SP)
	VPXOR     Y8, Y8, Y8
	Q6KHALF(0, 128, 4, 0)
	Q6KHALF(64, 160, 132, 16)
	HSUMD(Y8, X8, X3)

	// sum += float32((d·dx)·isum)
	MOVWLZX   208(SI), AX
	VMOVD     AX, X5
	VCVTPH2PS X5, X5
	VMULSS    0(BX), X5, X5
	VMULSS    X8, X5, X5
	VADDSS    X5, X10, X10

	ADDQ $210, SI
	ADDQ $292, BX
	DECQ CX
	JNZ  q6kblock

	KNEXTROW(q6krow)

	VZEROUPPER
	RET
