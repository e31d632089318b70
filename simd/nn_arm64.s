//go:build arm64 && !noasm

#include "textflag.h"

// NEON kernels of the normalisation, RoPE and attention loops
// (nn_arm64.go). Each gives its portable model's bits (nn_kernels.go):
// where the model rounds its products (float32(a*b)) the kernel does too
// (FMUL then FADD, never FMLA), and every sum keeps the model's order.
// Float instructions Go's assembler lacks are WORD-encoded, the mnemonic
// beside each.

// func sumSquaresNEON(x *float32, n int) float64
// Σ float64(x[i]·x[i]) for i < n, added one by one in order (the model's
// and llama.cpp's serial float64 sum): the squares and their widening run
// four at a time, the float64 additions stay a chain.
TEXT ·sumSquaresNEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD n+8(FP), R4
	VEOR V31.B16, V31.B16, V31.B16
ssloop4:
	CMP $4, R4
	BLT ssloop1
	VLD1.P 16(R0), [V0.S4]
	WORD $0x6e20dc00 // FMUL V0.4S, V0.4S, V0.4S
	WORD $0x0e617801 // FCVTL V1.2D, V0.2S
	WORD $0x4e617802 // FCVTL2 V2.2D, V0.4S
	VMOV V1.D[1], V3.D[0]
	VMOV V2.D[1], V4.D[0]
	FADDD F1, F31, F31
	FADDD F3, F31, F31
	FADDD F2, F31, F31
	FADDD F4, F31, F31
	SUB $4, R4
	B ssloop4
ssloop1:
	CBZ R4, ssdone
	FMOVS.P 4(R0), F0
	FMULS F0, F0, F0
	FCVTSD F0, F0
	FADDD F0, F31, F31
	SUB $1, R4
	B ssloop1
ssdone:
	FMOVD F31, ret+16(FP)
	RET

// func normScaleNEON(out, x, w *float32, s float32, n int)
// out[i] = (x[i]·s)·w[i] for i < n, n a multiple of 4; out may be x.
TEXT ·normScaleNEON(SB), NOSPLIT, $0-40
	MOVD out+0(FP), R2
	MOVD x+8(FP), R0
	MOVD w+16(FP), R1
	FMOVS s+24(FP), F31
	MOVD n+32(FP), R4
	VDUP V31.S[0], V31.S4
nsloop8:
	CMP $8, R4
	BLT nsloop4
	VLD1.P 32(R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	WORD $0x6e3fdc00 // FMUL V0.4S, V0.4S, V31.4S
	WORD $0x6e3fdc21 // FMUL V1.4S, V1.4S, V31.4S
	WORD $0x6e22dc00 // FMUL V0.4S, V0.4S, V2.4S
	WORD $0x6e23dc21 // FMUL V1.4S, V1.4S, V3.4S
	VST1.P [V0.S4, V1.S4], 32(R2)
	SUB $8, R4
	B nsloop8
nsloop4: // at most four values are left
	CBZ R4, nsdone
	VLD1.P 16(R0), [V0.S4]
	VLD1.P 16(R1), [V2.S4]
	WORD $0x6e3fdc00 // FMUL V0.4S, V0.4S, V31.4S
	WORD $0x6e22dc00 // FMUL V0.4S, V0.4S, V2.4S
	VST1.P [V0.S4], 16(R2)
nsdone:
	RET

// ROTATE4 rotates four pairs: V0 holds their first values, V1 their
// second, V2 the cosines, V3 the sines, V30 the sign mask (0 or −0 in each
// lane, which EOR applies to the sines). Results in V4 (first) and V5.
#define ROTATE4 \
	VEOR V30.B16, V3.B16, V3.B16; \
	WORD $0x6e22dc04 /* FMUL V4.4S, V0.4S, V2.4S */; \
	WORD $0x6e23dc25 /* FMUL V5.4S, V1.4S, V3.4S */; \
	WORD $0x6e23dc06 /* FMUL V6.4S, V0.4S, V3.4S */; \
	WORD $0x6e22dc27 /* FMUL V7.4S, V1.4S, V2.4S */; \
	WORD $0x4ea5d484 /* FSUB V4.4S, V4.4S, V5.4S */; \
	WORD $0x4e27d4c5 /* FADD V5.4S, V6.4S, V7.4S */

// func ropePairsNEON(v, cos, sin *float32, n, back int)
// Rotates the n pairs (v[2i], v[2i+1]) (n a multiple of 4) by cos[i],
// sin[i]: x0·c − x1·s, x0·s + x1·c, each product rounded. back (0 or 1)
// rotates by −sin, which gives RoPEBack's bits: fl(x1·(−s)) = −fl(x1·s), so
// a − (−b) is a + b and (−a) + b is b − a, exactly. VLD2 splits the pairs
// into a register of x0s and one of x1s; VST2 interleaves them back.
TEXT ·ropePairsNEON(SB), NOSPLIT, $0-40
	MOVD v+0(FP), R0
	MOVD cos+8(FP), R1
	MOVD sin+16(FP), R2
	MOVD n+24(FP), R4
	MOVD back+32(FP), R5
	LSL $31, R5
	VDUP R5, V30.S4
rploop:
	CBZ R4, rpdone
	VLD2 (R0), [V0.S4, V1.S4]
	VLD1.P 16(R1), [V2.S4]
	VLD1.P 16(R2), [V3.S4]
	ROTATE4
	VST2.P [V4.S4, V5.S4], 32(R0)
	SUB $4, R4
	B rploop
rpdone:
	RET

// func ropeHalvesNEON(a, b, cos, sin *float32, n, back int)
// ropePairsNEON for the pairs (a[i], b[i]), i < n (a multiple of 4):
// RoPENeox's layout.
TEXT ·ropeHalvesNEON(SB), NOSPLIT, $0-48
	MOVD a+0(FP), R0
	MOVD b+8(FP), R6
	MOVD cos+16(FP), R1
	MOVD sin+24(FP), R2
	MOVD n+32(FP), R4
	MOVD back+40(FP), R5
	LSL $31, R5
	VDUP R5, V30.S4
rhloop:
	CBZ R4, rhdone
	VLD1 (R0), [V0.S4]
	VLD1 (R6), [V1.S4]
	VLD1.P 16(R1), [V2.S4]
	VLD1.P 16(R2), [V3.S4]
	ROTATE4
	VST1.P [V4.S4], 16(R0)
	VST1.P [V5.S4], 16(R6)
	SUB $4, R4
	B rhloop
rhdone:
	RET

// func headScoresNEON(sc, q, k *float32, stride, hd, n int, scale float32)
// sc[j] = (Σ_e fl(q[e]·k[j·stride+e]))·scale for j < n (a multiple of 4),
// hd a multiple of 4, each sum in order e = 0, 1, … from +0. Four
// positions run at once, one per lane: four k rows are loaded four values
// at a time and transposed (TRN1/TRN2 on words, then on doublewords), so
// that lane l of column c holds k[(j+l)·stride+e+c].
TEXT ·headScoresNEON(SB), NOSPLIT, $0-52
	MOVD sc+0(FP), R0
	MOVD q+8(FP), R1
	MOVD k+16(FP), R2
	MOVD stride+24(FP), R3
	MOVD hd+32(FP), R4
	MOVD n+40(FP), R5
	FMOVS scale+48(FP), F31
	VDUP V31.S[0], V31.S4
	LSL $2, R3
hsposloop:
	CBZ R5, hsdone
	MOVD R2, R6
	ADD R3, R6, R7
	ADD R3, R7, R8
	ADD R3, R8, R9
	MOVD R1, R10
	MOVD R4, R11
	VEOR V16.B16, V16.B16, V16.B16
hseloop:
	CBZ R11, hsedone
	VLD1.P 16(R6), [V0.S4]
	VLD1.P 16(R7), [V1.S4]
	VLD1.P 16(R8), [V2.S4]
	VLD1.P 16(R9), [V3.S4]
	VLD1.P 16(R10), [V4.S4]
	VTRN1 V1.S4, V0.S4, V5.S4
	VTRN2 V1.S4, V0.S4, V6.S4
	VTRN1 V3.S4, V2.S4, V7.S4
	VTRN2 V3.S4, V2.S4, V17.S4
	VTRN1 V7.D2, V5.D2, V0.D2
	VTRN1 V17.D2, V6.D2, V1.D2
	VTRN2 V7.D2, V5.D2, V2.D2
	VTRN2 V17.D2, V6.D2, V3.D2
	WORD $0x4f849000 // FMUL V0.4S, V0.4S, V4.S[0]
	WORD $0x4fa49021 // FMUL V1.4S, V1.4S, V4.S[1]
	WORD $0x4f849842 // FMUL V2.4S, V2.4S, V4.S[2]
	WORD $0x4fa49863 // FMUL V3.4S, V3.4S, V4.S[3]
	WORD $0x4e20d610 // FADD V16.4S, V16.4S, V0.4S
	WORD $0x4e21d610 // FADD V16.4S, V16.4S, V1.4S
	WORD $0x4e22d610 // FADD V16.4S, V16.4S, V2.4S
	WORD $0x4e23d610 // FADD V16.4S, V16.4S, V3.4S
	SUB $4, R11
	B hseloop
hsedone:
	WORD $0x6e3fde10 // FMUL V16.4S, V16.4S, V31.4S
	VST1.P [V16.S4], 16(R0)
	ADD R3<<2, R2, R2
	SUB $4, R5
	B hsposloop
hsdone:
	RET

// func headMixNEON(o, v, sc *float32, stride, hd, n int)
// o[e] += fl(sc[j]·v[j·stride+e]) for j = 0 … n−1 in order, e < hd (a
// multiple of 4). Four values of o stay in a register while every position
// passes; two such columns run side by side where hd allows.
TEXT ·headMixNEON(SB), NOSPLIT, $0-48
	MOVD o+0(FP), R0
	MOVD v+8(FP), R1
	MOVD sc+16(FP), R2
	MOVD stride+24(FP), R3
	MOVD hd+32(FP), R4
	MOVD n+40(FP), R5
	LSL $2, R3
hmloop8:
	CMP $8, R4
	BLT hmloop4
	VLD1 (R0), [V16.S4, V17.S4]
	MOVD R1, R6
	MOVD R2, R7
	MOVD R5, R8
hmj8:
	CBZ R8, hmj8done
	VLD1R.P 4(R7), [V2.S4]
	VLD1.P (R6)(R3), [V0.S4, V1.S4]
	WORD $0x6e22dc00 // FMUL V0.4S, V0.4S, V2.4S
	WORD $0x6e22dc21 // FMUL V1.4S, V1.4S, V2.4S
	WORD $0x4e20d610 // FADD V16.4S, V16.4S, V0.4S
	WORD $0x4e21d631 // FADD V17.4S, V17.4S, V1.4S
	SUB $1, R8
	B hmj8
hmj8done:
	VST1.P [V16.S4, V17.S4], 32(R0)
	ADD $32, R1
	SUB $8, R4
	B hmloop8
hmloop4:
	CBZ R4, hmdone
	VLD1 (R0), [V16.S4]
	MOVD R1, R6
	MOVD R2, R7
	MOVD R5, R8
hmj4:
	CBZ R8, hmj4done
	VLD1R.P 4(R7), [V2.S4]
	VLD1.P (R6)(R3), [V0.S4]
	WORD $0x6e22dc00 // FMUL V0.4S, V0.4S, V2.4S
	WORD $0x4e20d610 // FADD V16.4S, V16.4S, V0.4S
	SUB $1, R8
	B hmj4
hmj4done:
	VST1.P [V16.S4], 16(R0)
	ADD $16, R1
	SUB $4, R4
	B hmloop4
hmdone:
	RET

// func headDotsNEON(sc, q, k *float32, stride, hd, n int, scale float32)
// sc[j] = dot(q, k[j·stride:][:hd])·scale for j < n, hd a multiple of 8:
// Attention's large-head scores in one call, each dot by dotNEON itself
// (so the bits are those of one Dot per position), without a Go call per
// position. The loop state lives in the frame across the calls.
TEXT ·headDotsNEON(SB), NOSPLIT, $96-52
	MOVD sc+0(FP), R2
	MOVD k+16(FP), R11
	MOVD stride+24(FP), R3
	MOVD n+40(FP), R5
	LSL $2, R3
	MOVD R3, 56(RSP)
hdpos:
	CBZ R5, hddone
	MOVD R2, 64(RSP)
	MOVD R5, 72(RSP)
	MOVD R11, 80(RSP)
	MOVD q+8(FP), R0
	MOVD hd+32(FP), R4
	MOVD R0, 8(RSP)  // x
	MOVD R11, 16(RSP) // y
	MOVD R4, 24(RSP) // n
	MOVD ZR, 32(RSP) // xt = nil: no tail
	MOVD ZR, 40(RSP) // yt
	CALL ·dotNEON(SB)
	FMOVS 48(RSP), F0
	FMOVS scale+48(FP), F1
	FMULS F1, F0, F0
	MOVD 64(RSP), R2
	MOVD 72(RSP), R5
	MOVD 80(RSP), R11
	MOVD 56(RSP), R3
	FMOVS.P F0, 4(R2)
	ADD R3, R11, R11
	SUB $1, R5
	B hdpos
hddone:
	RET

// func headAxpysNEON(o, v, sc *float32, stride, hd, n int)
// o[e] += sc[j]·v[j·stride+e] (fused) for j = 0 … n−1 in order, e < hd (a
// multiple of 8): Attention's large-head output in one call, the bits of
// one Axpy per position. 32 (then 8) values of o stay in registers while
// every position passes.
TEXT ·headAxpysNEON(SB), NOSPLIT, $0-48
	MOVD o+0(FP), R0
	MOVD v+8(FP), R1
	MOVD sc+16(FP), R2
	MOVD stride+24(FP), R3
	MOVD hd+32(FP), R4
	MOVD n+40(FP), R5
	LSL $2, R3
hx32:
	CMP $32, R4
	BLT hx8
	ADD $64, R0, R9
	VLD1 (R0), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1 (R9), [V20.S4, V21.S4, V22.S4, V23.S4]
	MOVD R1, R6
	MOVD R2, R7
	MOVD R5, R8
hx32j:
	CBZ R8, hx32jdone
	VLD1R.P 4(R7), [V31.S4]
	ADD $64, R6, R9
	VLD1 (R6), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1 (R9), [V4.S4, V5.S4, V6.S4, V7.S4]
	ADD R3, R6, R6
	VFMLA V0.S4, V31.S4, V16.S4
	VFMLA V1.S4, V31.S4, V17.S4
	VFMLA V2.S4, V31.S4, V18.S4
	VFMLA V3.S4, V31.S4, V19.S4
	VFMLA V4.S4, V31.S4, V20.S4
	VFMLA V5.S4, V31.S4, V21.S4
	VFMLA V6.S4, V31.S4, V22.S4
	VFMLA V7.S4, V31.S4, V23.S4
	SUB $1, R8
	B hx32j
hx32jdone:
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R0)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R0)
	ADD $128, R1
	SUB $32, R4
	B hx32
hx8:
	CBZ R4, hxdone
	VLD1 (R0), [V16.S4, V17.S4]
	MOVD R1, R6
	MOVD R2, R7
	MOVD R5, R8
hx8j:
	CBZ R8, hx8jdone
	VLD1R.P 4(R7), [V31.S4]
	VLD1.P (R6)(R3), [V0.S4, V1.S4]
	VFMLA V0.S4, V31.S4, V16.S4
	VFMLA V1.S4, V31.S4, V17.S4
	SUB $1, R8
	B hx8j
hx8jdone:
	VST1.P [V16.S4, V17.S4], 32(R0)
	ADD $32, R1
	SUB $8, R4
	B hx8
hxdone:
	RET
