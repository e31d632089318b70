package simd

import (
	"math"

	"github.com/x448/float16"
)

// The portable kernels. They are compiled on every platform: they are the
// whole implementation without assembly, and on amd64 the tests compare
// them with the assembly. Loops are unrolled with independent accumulators
// so that the compiler can keep several multiply-adds in flight.

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xs, ys := x[i:i+8:i+8], y[i:i+8:i+8]
		s0 += xs[0] * ys[0]
		s1 += xs[1] * ys[1]
		s2 += xs[2] * ys[2]
		s3 += xs[3] * ys[3]
		s4 += xs[4] * ys[4]
		s5 += xs[5] * ys[5]
		s6 += xs[6] * ys[6]
		s7 += xs[7] * ys[7]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func sumGeneric(x []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xs := x[i : i+8 : i+8]
		s0 += xs[0]
		s1 += xs[1]
		s2 += xs[2]
		s3 += xs[3]
		s4 += xs[4]
		s5 += xs[5]
		s6 += xs[6]
		s7 += xs[7]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func axpyGeneric(a float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		ys[0] += a * xs[0]
		ys[1] += a * xs[1]
		ys[2] += a * xs[2]
		ys[3] += a * xs[3]
	}
	for ; i < len(x); i++ {
		y[i] += a * x[i]
	}
}

func scaleGeneric(a float32, x []float32) {
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs := x[i : i+4 : i+4]
		xs[0] *= a
		xs[1] *= a
		xs[2] *= a
		xs[3] *= a
	}
	for ; i < len(x); i++ {
		x[i] *= a
	}
}

func addGeneric(dst, x, y []float32) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	for i := range x {
		dst[i] = x[i] + y[i]
	}
}

func mulGeneric(dst, x, y []float32) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	for i := range x {
		dst[i] = x[i] * y[i]
	}
}

func kern1x4Generic(out, x, w []float32, ldw, k int, acc bool) {
	x = x[:k]
	w0 := w[0*ldw:][:len(x)]
	w1 := w[1*ldw:][:len(x)]
	w2 := w[2*ldw:][:len(x)]
	w3 := w[3*ldw:][:len(x)]
	var a0, a1, a2, a3 float32
	for t, v := range x {
		a0 += v * w0[t]
		a1 += v * w1[t]
		a2 += v * w2[t]
		a3 += v * w3[t]
	}
	o := out[:4]
	if acc {
		o[0] += a0
		o[1] += a1
		o[2] += a2
		o[3] += a3
	} else {
		o[0], o[1], o[2], o[3] = a0, a1, a2, a3
	}
}

func kern3x4Generic(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	x0 := x[:k]
	x1 := x[1*ldx:][:len(x0)]
	x2 := x[2*ldx:][:len(x0)]
	w0 := w[0*ldw:][:len(x0)]
	w1 := w[1*ldw:][:len(x0)]
	w2 := w[2*ldw:][:len(x0)]
	w3 := w[3*ldw:][:len(x0)]
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23 float32
	for t, a := range x0 {
		b, c := x1[t], x2[t]
		v := w0[t]
		c00 += a * v
		c10 += b * v
		c20 += c * v
		v = w1[t]
		c01 += a * v
		c11 += b * v
		c21 += c * v
		v = w2[t]
		c02 += a * v
		c12 += b * v
		c22 += c * v
		v = w3[t]
		c03 += a * v
		c13 += b * v
		c23 += c * v
	}
	o0, o1, o2 := out[0:4], out[ldo:ldo+4], out[2*ldo:2*ldo+4]
	if acc {
		o0[0] += c00
		o0[1] += c01
		o0[2] += c02
		o0[3] += c03
		o1[0] += c10
		o1[1] += c11
		o1[2] += c12
		o1[3] += c13
		o2[0] += c20
		o2[1] += c21
		o2[2] += c22
		o2[3] += c23
		return
	}
	o0[0], o0[1], o0[2], o0[3] = c00, c01, c02, c03
	o1[0], o1[1], o1[2], o1[3] = c10, c11, c12, c13
	o2[0], o2[1], o2[2], o2[3] = c20, c21, c22, c23
}

// f16Block is how many halves the portable f16 kernels convert at a time
// (into a stack buffer) before multiplying.
const f16Block = 256

func dotF16Generic(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var buf [f16Block]float32
	var s float32
	for k0 := 0; k0 < len(x); k0 += f16Block {
		k1 := min(k0+f16Block, len(x))
		f16ToF32Generic(buf[:k1-k0], w[k0:k1])
		s += dotGeneric(x[k0:k1], buf[:k1-k0])
	}
	return s
}

func kern1x4F16Generic(out, x []float32, w []uint16, ldw, k int) {
	var buf [4 * f16Block]float32
	var part [4]float32
	o := out[:4]
	clear(o)
	for k0 := 0; k0 < k; k0 += f16Block {
		kl := min(k0+f16Block, k) - k0
		for j := 0; j < 4; j++ {
			f16ToF32Generic(buf[j*kl:(j+1)*kl], w[j*ldw+k0:j*ldw+k0+kl])
		}
		kern1x4Generic(part[:], x[k0:k0+kl], buf[:], kl, kl, false)
		o[0] += part[0]
		o[1] += part[1]
		o[2] += part[2]
		o[3] += part[3]
	}
}

func gemm4x24Generic(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	for i := 0; i < 4; i++ {
		var r [24]float32
		ai := i * sai
		for t := 0; t < k; t++ {
			av := a[ai+t*sak]
			bt := b[t*ldb : t*ldb+24 : t*ldb+24]
			for j := 0; j < 24; j += 8 {
				r[j] += av * bt[j]
				r[j+1] += av * bt[j+1]
				r[j+2] += av * bt[j+2]
				r[j+3] += av * bt[j+3]
				r[j+4] += av * bt[j+4]
				r[j+5] += av * bt[j+5]
				r[j+6] += av * bt[j+6]
				r[j+7] += av * bt[j+7]
			}
		}
		ci := c[i*ldc : i*ldc+24]
		if acc {
			for j := range ci {
				ci[j] += r[j]
			}
		} else {
			copy(ci, r[:])
		}
	}
}

// halfToFloat converts IEEE half bits to float32, bit-identical to
// float16.Frombits(h).Float32() (NaNs are quieted, payload kept).
func halfToFloat(h uint16) float32 {
	x := uint32(h)
	if x&0x7c00-0x400 < 0x7800 { // exponent neither 0 nor 31
		return math.Float32frombits(x&0x8000<<16 | (x&0x7fff<<13 + (127-15)<<23))
	}
	return halfToFloatSpecial(h)
}

// halfToFloatSpecial converts zeros, subnormals, infinities and NaNs. It is
// kept out of line so that halfToFloat inlines.
//
//go:noinline
func halfToFloatSpecial(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	m := uint32(h & 0x3ff)
	if h&0x7c00 == 0 {
		// Zero or subnormal: m·2⁻²⁴ is exact in float32.
		return math.Float32frombits(sign | math.Float32bits(float32(m)*(1.0/(1<<24))))
	}
	if m == 0 {
		return math.Float32frombits(sign | 0x7f800000)
	}
	return math.Float32frombits(sign | 0x7fc00000 | m<<13)
}

func f16ToF32Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		// halfToFloat, inlined by hand.
		if x := uint32(h); x&0x7c00-0x400 < 0x7800 {
			dst[i] = math.Float32frombits(x&0x8000<<16 | (x&0x7fff<<13 + (127-15)<<23))
		} else {
			dst[i] = halfToFloatSpecial(h)
		}
	}
}

func f32ToF16Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = float16.Fromfloat32(f).Bits()
	}
}

// expf is e^x rounded to float32.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// silu is x*sigmoid(x) computed as x/(1+e^-x).
func silu(x float32) float32 { return x / (1 + expf(-x)) }

func expGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = expf(v)
	}
}

func siluGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = silu(v)
	}
}

func swigluGeneric(dst, g, u []float32) {
	dst = dst[:len(g)]
	u = u[:len(g)]
	for i, v := range g {
		dst[i] = silu(v) * u[i]
	}
}

func expSubGeneric(x []float32, m float32) float64 {
	var s float64
	for i, v := range x {
		e := expf(v - m)
		x[i] = e
		s += float64(e)
	}
	return s
}

func maxGeneric(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}
