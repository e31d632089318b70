//go:build arm64 && !noasm

#include "textflag.h"

// NEON dot products of quantized rows with Q8_0 activations. Per block the
// integer dot product (SDOT where the CPU has the dot-product extension,
// else SMULL and SADALP, ARMv8.0) is exact in int32 whatever the order;
// then, as in the portable code, float32(sumi)·(dw·dx) is rounded on its
// own and added to one float32 sum in block order (FMULS, FADDS: no fused
// multiply-add), so the bits equal dotQ8_0Generic's and dotQ4_0Generic's.
// Instructions Go's assembler lacks are WORD-encoded, the mnemonic beside
// each.

// func dotQ8_0SDOT(w, x *byte, nb int) float32
TEXT ·dotQ8_0SDOT(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V31.B16, V31.B16, V31.B16
dotQ8_0SDOTloop:
	MOVHU.P 2(R0), R3
	MOVHU.P 2(R1), R4
	VLD1.P 32(R0), [V0.B16, V1.B16]
	VLD1.P 32(R1), [V2.B16, V3.B16]
	VEOR V4.B16, V4.B16, V4.B16
	WORD $0x4e829404 // SDOT V4.4S, V0.16B, V2.16B
	WORD $0x4e839424 // SDOT V4.4S, V1.16B, V3.16B
	WORD $0x4eb1b884 // ADDV S4, V4.4S
	WORD $0x5e21d884 // SCVTF S4, S4
	FMOVS R3, F5
	FCVTHS F5, F5
	FMOVS R4, F6
	FCVTHS F6, F6
	FMULS F6, F5, F5 // dw·dx, exact
	FMULS F5, F4, F4 // float32(sumi)·d, rounded
	FADDS F4, F31, F31
	SUBS $1, R2
	BNE dotQ8_0SDOTloop
	FMOVS F31, ret+24(FP)
	RET

// func dotQ8_0NEON(w, x *byte, nb int) float32
TEXT ·dotQ8_0NEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V31.B16, V31.B16, V31.B16
dotQ8_0NEONloop:
	MOVHU.P 2(R0), R3
	MOVHU.P 2(R1), R4
	VLD1.P 32(R0), [V0.B16, V1.B16]
	VLD1.P 32(R1), [V2.B16, V3.B16]
	VEOR V4.B16, V4.B16, V4.B16
	WORD $0x0e22c005 // SMULL V5.8H, V0.8B, V2.8B
	WORD $0x4e22c006 // SMULL2 V6.8H, V0.16B, V2.16B
	WORD $0x0e23c027 // SMULL V7.8H, V1.8B, V3.8B
	WORD $0x4e23c028 // SMULL2 V8.8H, V1.16B, V3.16B
	WORD $0x4e6068a4 // SADALP V4.4S, V5.8H
	WORD $0x4e6068c4 // SADALP V4.4S, V6.8H
	WORD $0x4e6068e4 // SADALP V4.4S, V7.8H
	WORD $0x4e606904 // SADALP V4.4S, V8.8H
	WORD $0x4eb1b884 // ADDV S4, V4.4S
	WORD $0x5e21d884 // SCVTF S4, S4
	FMOVS R3, F5
	FCVTHS F5, F5
	FMOVS R4, F6
	FCVTHS F6, F6
	FMULS F6, F5, F5 // dw·dx, exact
	FMULS F5, F4, F4 // float32(sumi)·d, rounded
	FADDS F4, F31, F31
	SUBS $1, R2
	BNE dotQ8_0NEONloop
	FMOVS F31, ret+24(FP)
	RET

// func dotQ4_0SDOT(w, x *byte, nb int) float32
TEXT ·dotQ4_0SDOT(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V31.B16, V31.B16, V31.B16
	VMOVI $15, V29.B16
	VMOVI $8, V30.B16
dotQ4_0SDOTloop:
	MOVHU.P 2(R0), R3
	MOVHU.P 2(R1), R4
	VLD1.P 16(R0), [V0.B16]
	VUSHR $4, V0.B16, V1.B16
	VAND V29.B16, V0.B16, V0.B16
	VSUB V30.B16, V0.B16, V0.B16
	VSUB V30.B16, V1.B16, V1.B16
	VLD1.P 32(R1), [V2.B16, V3.B16]
	VEOR V4.B16, V4.B16, V4.B16
	WORD $0x4e829404 // SDOT V4.4S, V0.16B, V2.16B
	WORD $0x4e839424 // SDOT V4.4S, V1.16B, V3.16B
	WORD $0x4eb1b884 // ADDV S4, V4.4S
	WORD $0x5e21d884 // SCVTF S4, S4
	FMOVS R3, F5
	FCVTHS F5, F5
	FMOVS R4, F6
	FCVTHS F6, F6
	FMULS F6, F5, F5 // dw·dx, exact
	FMULS F5, F4, F4 // float32(sumi)·d, rounded
	FADDS F4, F31, F31
	SUBS $1, R2
	BNE dotQ4_0SDOTloop
	FMOVS F31, ret+24(FP)
	RET

// func dotQ4_0NEON(w, x *byte, nb int) float32
TEXT ·dotQ4_0NEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V31.B16, V31.B16, V31.B16
	VMOVI $15, V29.B16
	VMOVI $8, V30.B16
dotQ4_0NEONloop:
	MOVHU.P 2(R0), R3
	MOVHU.P 2(R1), R4
	VLD1.P 16(R0), [V0.B16]
	VUSHR $4, V0.B16, V1.B16
	VAND V29.B16, V0.B16, V0.B16
	VSUB V30.B16, V0.B16, V0.B16
	VSUB V30.B16, V1.B16, V1.B16
	VLD1.P 32(R1), [V2.B16, V3.B16]
	VEOR V4.B16, V4.B16, V4.B16
	WORD $0x0e22c005 // SMULL V5.8H, V0.8B, V2.8B
	WORD $0x4e22c006 // SMULL2 V6.8H, V0.16B, V2.16B
	WORD $0x0e23c027 // SMULL V7.8H, V1.8B, V3.8B
	WORD $0x4e23c028 // SMULL2 V8.8H, V1.16B, V3.16B
	WORD $0x4e6068a4 // SADALP V4.4S, V5.8H
	WORD $0x4e6068c4 // SADALP V4.4S, V6.8H
	WORD $0x4e6068e4 // SADALP V4.4S, V7.8H
	WORD $0x4e606904 // SADALP V4.4S, V8.8H
	WORD $0x4eb1b884 // ADDV S4, V4.4S
	WORD $0x5e21d884 // SCVTF S4, S4
	FMOVS R3, F5
	FCVTHS F5, F5
	FMOVS R4, F6
	FCVTHS F6, F6
	FMULS F6, F5, F5 // dw·dx, exact
	FMULS F5, F4, F4 // float32(sumi)·d, rounded
	FADDS F4, F31, F31
	SUBS $1, R2
	BNE dotQ4_0NEONloop
	FMOVS F31, ret+24(FP)
	RET
