//go:build !(wasip1 && shearhost)

package simd

// F16ToF32 converts IEEE 754 half-precision values (as bits) to float32:
// dst[i] = half(src[i]). The result is bit-identical to
// float16.Frombits(h).Float32() of github.com/x448/float16 for all 65,536
// inputs (NaNs become quiet NaNs with their payload kept).
// len(dst) must equal len(src).
func F16ToF32(dst []float32, src []uint16) {
	checkLen("F16ToF32", len(src), len(dst))
	f16ToF32(dst, src)
}

// F32ToF16 converts float32 values to IEEE 754 half precision (as bits),
// rounding to nearest even: bit-identical to float16.Fromfloat32(f).Bits()
// of github.com/x448/float16, including NaN payloads, overflow to ±Inf and
// subnormal results. len(dst) must equal len(src).
func F32ToF16(dst []uint16, src []float32) {
	checkLen("F32ToF16", len(src), len(dst))
	f32ToF16(dst, src)
}
