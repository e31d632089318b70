package quant

import "encoding/binary"

// The other 32-value block types of ggml, read (dequantized) but not run
// on: llama-quantize writes Q5_0 or Q5_1 for the tensors of a Q4_K_M or
// Q5_K_M file whose rows are not whole 256-value super-blocks, and older
// files are Q4_1 throughout. Layouts, little-endian, as ggml's block_q4_1,
// block_q5_0 and block_q5_1:
//
//	Q4_1: d f16, m f16, 16 bytes of nibbles          x = q·d + m, q in 0..15
//	Q5_0: d f16, qh u32, 16 bytes of nibbles         x = (q − 16)·d, q in 0..31
//	Q5_1: d f16, m f16, qh u32, 16 bytes of nibbles  x = q·d + m, q in 0..31
//
// Value j < 16 takes the low nibble of byte j, value j+16 its high nibble;
// Q5's fifth bits are bit j and bit j+16 of qh.
const (
	Q4_1BlockBytes = 4 + BlockSize/2 // 20
	Q5_0BlockBytes = 6 + BlockSize/2 // 22
	Q5_1BlockBytes = 8 + BlockSize/2 // 24
)

// DequantizeQ4_1 expands len(dst) values, a multiple of BlockSize, from the
// Q4_1 blocks at the start of src, as ggml's dequantize_row_q4_1.
func DequantizeQ4_1(dst []float32, src []byte) {
	dequantizeLegacy(dst, src, Q4_1BlockBytes, true, false)
}

// DequantizeQ5_0 is DequantizeQ4_1 for Q5_0 blocks (dequantize_row_q5_0).
func DequantizeQ5_0(dst []float32, src []byte) {
	dequantizeLegacy(dst, src, Q5_0BlockBytes, false, true)
}

// DequantizeQ5_1 is DequantizeQ4_1 for Q5_1 blocks (dequantize_row_q5_1).
func DequantizeQ5_1(dst []float32, src []byte) {
	dequantizeLegacy(dst, src, Q5_1BlockBytes, true, true)
}

// dequantizeLegacy rounds once per value: q·d is exact in float32 (a 5-bit
// code times an 11-bit significand), so only the addition of m rounds,
// whether a compiler fuses the two or not.
func dequantizeLegacy(dst []float32, src []byte, blockBytes int, hasMin, fifthBit bool) {
	if len(dst)%BlockSize != 0 {
		panic("quant: dequantize length is not a multiple of the block size")
	}
	nb := len(dst) / BlockSize
	checkLen("src", len(src), nb*blockBytes)
	for i := range nb {
		b := src[i*blockBytes : (i+1)*blockBytes]
		d := half(b)
		var m float32
		o := 2
		if hasMin {
			m = half(b[2:])
			o = 4
		}
		var qh uint32
		if fifthBit {
			qh = binary.LittleEndian.Uint32(b[o:])
			o += 4
		}
		qs := b[o:]
		y := dst[i*BlockSize : (i+1)*BlockSize]
		for j := range BlockSize / 2 {
			q0, q1 := int32(qs[j]&0x0F), int32(qs[j]>>4)
			if fifthBit {
				q0 |= int32(qh>>j&1) << 4
				q1 |= int32(qh>>(j+16)&1) << 4
				if !hasMin {
					q0, q1 = q0-16, q1-16
				}
			}
			if hasMin {
				y[j] = float32(q0)*d + m
				y[j+BlockSize/2] = float32(q1)*d + m
			} else {
				y[j] = float32(q0) * d
				y[j+BlockSize/2] = float32(q1) * d
			}
		}
	}
}
