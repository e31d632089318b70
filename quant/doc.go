// Package quant holds GGUF's Q8_0 and Q4_0 block formats and the K-quants
// Q4_K, Q5_K and Q6_K, byte for byte as ggml lays them out, and the integer
// kernels that multiply them.
//
// # Formats
//
// Both formats cut a row into blocks of BlockSize (32) values. Each block
// starts with its scale d, an IEEE 754 half (fp16) stored little-endian.
//
// Q8_0, 34 bytes a block:
//
//	offset 0..1   d   fp16 scale, d = max|x| / 127
//	offset 2..33  qs  32 × int8, q[j] = roundf(x[j] / d)   (half away from zero)
//	value         x[j] = q[j] · d
//
// Q4_0, 18 bytes a block:
//
//	offset 0..1   d   fp16 scale, d = m / -8, m the value of largest |x| with its sign
//	offset 2..17  qs  16 bytes; byte j holds x[j] in its low nibble
//	                  and x[j+16] in its high nibble, each a 4-bit u with bias 8
//	value         x[j] = ((qs[j] & 0xF) - 8) · d,  x[j+16] = ((qs[j] >> 4) - 8) · d
//
// Quantization follows ggml's reference quantizers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref): the codes are computed with the float32 scale and
// its float32 reciprocal, and only then is the scale rounded to fp16 (round to
// nearest even). An all-zero block has d = 0 in Q8_0 and d = -0 (0x8000) in
// Q4_0, whose codes are then all 8; so does ggml. A row of cols values takes
// RowBytesQ8_0(cols) or RowBytesQ4_0(cols) bytes; cols must be a multiple of
// 32. A matrix is its rows one after another, as in a GGUF tensor.
//
// # Dot products
//
// DotQ8_0 and DotQ4_0 multiply a weight row by activations that were
// quantized to Q8_0, as ggml_vec_dot_q8_0_q8_0 and ggml_vec_dot_q4_0_q8_0 do.
// Each block contributes one term: its integer dot product, summed exactly in
// int32, converted to float32 and multiplied by the product of the two
// scales (that product of two halves is exact in float32). The terms are
// added in block order into one float32, without fused multiply-add:
//
//	sum += float32(Σ_j qw[j]·qx[j]) * (dw·dx)
//
// This is ggml's scalar reference order. (For Q4_0 ggml's scalar code
// associates the term as (sumi·dw)·dx, which can differ from ours in the last
// bit of a term.)
//
// On amd64 with AVX2 and F16C the dot kernels and the Q8_0 quantizer are
// assembly (dot_amd64.s); on arm64 the dot kernels, one row and four rows
// at a time, are NEON (dot_arm64.s: SDOT where the CPU has the dot-product
// extension, SMULL and SADALP otherwise), and the K-quant kernels
// (kquant_arm64.s) compute each super-block's integer sub-block sums the
// same two ways, leaving the scales and the float32 part to the portable
// code; elsewhere, or with the noasm build tag, they are the portable
// Go code, which assembly builds also hold for cross-checking. The
// assembly follows the same operations in the same order, and the portable
// code forbids FMA contraction, so every path on every architecture gives the
// same bits, for any input bytes (int8 code -128 included). The tests and the
// fuzz targets check the assembly against the portable code; a golden test
// pins the bits across architectures.
//
// Products of several activation rows (prefill) run AVX-512 VNNI kernels
// where the CPU has them (prefill_vnni_amd64.s, chosen at run time): each
// lane of a 16-lane register is one weight row, over a panel of sixteen
// rows packed once per product tile with the codes made unsigned (Q8_0
// w+128, Q4_0 the nibbles), so VPDPBUSD with four activation bytes
// broadcast leaves whole block sums in the lanes, with no horizontal
// reduction; the offset times Σx, formed once per activation block, is
// subtracted exactly in int32. Per block the order of the float32 work is
// unchanged, so the bits are the AVX2 kernels' (TestPrefillVNNIMirror).
// Decode (one activation row) keeps the AVX2 kernels: the packed layout
// pays only when many activation rows share it.
//
// # K-quants
//
// Q4_K, Q5_K and Q6_K (what llama.cpp's Q4_K_M and Q5_K_M files hold) cut a
// row into super-blocks of SuperBlockSize (256) values:
//
//	Q4_K, 144 bytes: d, dmin (fp16); 12 bytes of eight 6-bit scales sc_j and
//	      mins m_j (ggml's get_scale_min_k4 packing); 128 bytes of nibbles,
//	      32 bytes per pair of 32-value sub-blocks (low nibbles: sub-block 2p,
//	      high: 2p+1).  x = (d·sc_j)·q − dmin·m_j
//	Q5_K, 176 bytes: as Q4_K, with 32 bytes qh between scales and nibbles:
//	      bit j of qh[l] is the fifth bit of value l of sub-block j.
//	Q6_K, 210 bytes: 128 bytes of low nibbles, 64 of 2-bit highs, sixteen
//	      int8 scales (one per 16 values), d (fp16) last.
//	      x = (d·sc)·(q − 32)
//
// The dequantizers are bit-identical to ggml's dequantize_row_q4_K/q5_K/q6_K
// (each product rounded to float32 on its own, as ggml-base compiles them,
// without FMA); TestKDequantMatchesLlamaCpp checks this against llama.cpp's
// own to_float on stored blocks. Shear reads and runs K-quants but does not
// quantize to them (llama-quantize does).
//
// The dot products run against activations quantized to Q8_K (292 bytes per
// 256 values: a float32 d, 256 int8 codes, sixteen int16 sums of 16 codes),
// with QuantizeQ8_K as ggml's quantize_row_q8_K_ref, which llama.cpp's x86
// build also uses; so the integer sums of a super-block are llama.cpp's.
// Per super-block: isum = Σ_j sc_j·Σ_l q·x and, for Q4_K/Q5_K,
// msum = Σ_j m_j·Σ_l x (from the bsums), exact in int32; then
//
//	sum += float32((dw·dx)·isum) − float32((dmin·dx)·msum)   (Q6_K: no min term)
//
// super-block by super-block, no FMA. llama.cpp's AVX2 code accumulates the
// float terms in another order, so results agree to rounding, not bits. On
// amd64 the Q4_K, Q5_K and Q6_K row kernels are AVX2 assembly
// (kquant_amd64.s), the same bits as the portable code (TestKDotMirror,
// TestKDotExtremeCodes). MatMulK spreads weight rows over
// simd.ParallelFor in cache tiles, as MatMulQ8_0 does.
//
// # Matrix-vector products
//
// MatVecQ8_0 and MatVecQ4_0 quantize the activations to Q8_0 once, into a
// scratch buffer from the caller, then compute every output row with the dot
// kernel, four rows per call, spread over simd.ParallelFor. The weights are
// never dequantized, and a call allocates nothing. MatMulQ8_0 and MatMulQ4_0
// do the same for several activation rows, walking the weights in tiles small
// enough to stay in cache while all activation rows pass over them.
package quant
