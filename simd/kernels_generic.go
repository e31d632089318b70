package simd

import (
	"math"

	"github.com/x448/float16"
)

// The portable kernels and the exact models. Each product kernel here is
// an exact model of its amd64 kernel: the same lanes and accumulators, the
// same order of additions, fused multiply-adds where the assembly fuses
// (fma32), and the same e^x polynomial. The models (or, for prefill and
// f16 decode, kernels_exact.go's faster kernels of the same bits) are what
// the pure WebAssembly guest runs, so that it computes the bits of the AVX2 build
// (which is what lets the pure WebAssembly engine reproduce native
// perplexities and scores exactly), and what the mirror tests hold the
// AVX2 and NEON kernels to. Native builds without assembly run the faster
// kernels_portable.go for the products instead (see the package doc). The
// element-wise kernels here serve every build without assembly. Products
// that the assembly rounds on their own are written with an explicit
// float32 conversion, which stops Go from fusing them on arm64.

// lanes is one 256-bit register of eight float32.
type lanes [8]float32

// hsum1 is the HSUM1 reduction of one register:
// ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)).
func hsum1(v *lanes) float32 {
	return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

// hsum4 is HSUM4's per-register reduction: ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).
func hsum4(v *lanes) float32 {
	return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

// fmaLanes sets acc[l] = x[l]·y[l] + acc[l] with one rounding, for l < n.
func fmaLanes(acc *lanes, x, y []float32) {
	y = y[:len(x)]
	for l, v := range x {
		if fusedFMA {
			acc[l] = fma32(v, y[l], acc[l])
			continue
		}
		// fma32Emulated, its fast path written out: this is the hot loop
		// of the models' matrix products.
		p := float64(v) * float64(y[l])
		s := p + float64(acc[l])
		if roundsOnce(s) {
			acc[l] = float32(s)
		} else {
			acc[l] = fma32Slow(p, float64(acc[l]), s)
		}
	}
}

// fmaTail is the masked tail of a kernel: lanes l < len(x) get the fused
// multiply-add, the others add the masked-out zero product, which turns a
// -0 accumulator into +0 exactly as the assembly does.
func fmaTail(acc *lanes, x, y []float32) {
	if len(x) == 0 {
		return
	}
	fmaLanes(acc, x, y)
	for l := len(x); l < 8; l++ {
		acc[l] += 0
	}
}

// addLanes sets a[l] += b[l].
func addLanes(a, b *lanes) {
	for l := range a {
		a[l] += b[l]
	}
}

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var a0, a1, a2, a3 lanes
	n := len(x)
	i := 0
	for ; i+32 <= n; i += 32 {
		fmaLanes(&a0, x[i:i+8], y[i:i+8])
		fmaLanes(&a1, x[i+8:i+16], y[i+8:i+16])
		fmaLanes(&a2, x[i+16:i+24], y[i+16:i+24])
		fmaLanes(&a3, x[i+24:i+32], y[i+24:i+32])
	}
	for ; i+8 <= n; i += 8 {
		fmaLanes(&a0, x[i:i+8], y[i:i+8])
	}
	fmaTail(&a1, x[i:], y[i:])
	addLanes(&a0, &a1)
	addLanes(&a2, &a3)
	addLanes(&a0, &a2)
	return hsum1(&a0)
}

func sumGeneric(x []float32) float32 {
	var a0, a1, a2, a3 lanes
	n := len(x)
	i := 0
	for ; i+32 <= n; i += 32 {
		for l := range 8 {
			a0[l] += x[i+l]
			a1[l] += x[i+8+l]
			a2[l] += x[i+16+l]
			a3[l] += x[i+24+l]
		}
	}
	for ; i+8 <= n; i += 8 {
		for l := range 8 {
			a0[l] += x[i+l]
		}
	}
	if i < n {
		var tail lanes
		copy(tail[:], x[i:])
		addLanes(&a1, &tail)
	}
	addLanes(&a0, &a1)
	addLanes(&a2, &a3)
	addLanes(&a0, &a2)
	return hsum1(&a0)
}

// axpyGeneric fuses the multiply-add of the first len&^7 elements, as
// axpyAVX, and rounds the product of the rest, as the tail code after it.
func axpyGeneric(a float32, x, y []float32) {
	y = y[:len(x)]
	n := len(x) &^ 7
	for i := 0; i < n; i++ {
		y[i] = fma32(a, x[i], y[i])
	}
	for i := n; i < len(x); i++ {
		y[i] += float32(a * x[i])
	}
}

func scaleGeneric(a float32, x []float32) {
	for i := range x {
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

// kern1x4Generic models dot1x4AVX: per row two registers, the first and
// second eight of every sixteen columns; a last full eight goes to the
// first, the masked tail to the second.
func kern1x4Generic(out, x, w []float32, ldw, k int, acc bool) {
	x = x[:k]
	var lo, hi [4]lanes
	var rows [4][]float32
	for j := range rows {
		rows[j] = w[j*ldw:][:k]
	}
	t := 0
	for ; t+16 <= k; t += 16 {
		for j := range rows {
			fmaLanes(&lo[j], x[t:t+8], rows[j][t:t+8])
			fmaLanes(&hi[j], x[t+8:t+16], rows[j][t+8:t+16])
		}
	}
	if t+8 <= k {
		for j := range rows {
			fmaLanes(&lo[j], x[t:t+8], rows[j][t:t+8])
		}
		t += 8
	}
	for j := range rows {
		fmaTail(&hi[j], x[t:], rows[j][t:])
		addLanes(&lo[j], &hi[j])
	}
	o := out[:4]
	for j := range o {
		s := hsum4(&lo[j])
		if acc {
			s += o[j]
		}
		o[j] = s
	}
}

// kern3x4Generic models dot3x4AVX: one register per output, eight columns
// at a time, the masked tail into the same registers.
func kern3x4Generic(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	var a [3][4]lanes
	var xr [3][]float32
	var wr [4][]float32
	for i := range xr {
		xr[i] = x[i*ldx:][:k]
	}
	for j := range wr {
		wr[j] = w[j*ldw:][:k]
	}
	for t := 0; t < k; t += 8 {
		e := min(t+8, k)
		for j := range wr {
			for i := range xr {
				fmaTail(&a[i][j], xr[i][t:e], wr[j][t:e])
			}
		}
	}
	for i := range xr {
		o := out[i*ldo : i*ldo+4]
		for j := range o {
			s := hsum4(&a[i][j])
			if acc {
				s += o[j]
			}
			o[j] = s
		}
	}
}

// f16Block is how many halves the portable f16 kernels convert at a time
// (into a stack buffer) before multiplying.
const f16Block = 256

// dotF16Generic is the portable dotF16: dotF16AVX's two registers over
// the first len&^7 columns, then the rest one by one.
func dotF16Generic(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	k8 := len(x) &^ 7
	if k8 == 0 {
		var s float32
		for t, v := range x {
			s += float32(v * halfToFloat(w[t]))
		}
		return s
	}
	var a0, a1 lanes
	var buf [f16Block]float32
	for k0 := 0; k0 < k8; k0 += f16Block {
		k1 := min(k0+f16Block, k8)
		wf := buf[:k1-k0]
		f16ToF32Generic(wf, w[k0:k1])
		for t := k0; t < k1; t += 8 {
			// Even eights to the first register, odd ones to the second
			// (a last, unpaired eight is even).
			if (t/8)%2 == 0 {
				fmaLanes(&a0, x[t:t+8], wf[t-k0:t-k0+8])
			} else {
				fmaLanes(&a1, x[t:t+8], wf[t-k0:t-k0+8])
			}
		}
	}
	addLanes(&a0, &a1)
	s := hsum1(&a0)
	if k8 < len(x) {
		s += dotF16Generic(x[k8:], w[k8:])
	}
	return s
}

// kern1x4F16Generic models kern1x4F16: dot1x4F16AVX over the first k&^7
// columns (kern1x4's register layout without a masked tail), then the
// rest of each row added with dotF16Generic.
func kern1x4F16Generic(out, x []float32, w []uint16, ldw, k int) {
	k8 := k &^ 7
	var lo, hi [4]lanes
	var buf [4 * f16Block]float32
	for k0 := 0; k0 < k8; k0 += f16Block {
		kl := min(k0+f16Block, k8) - k0
		for j := 0; j < 4; j++ {
			f16ToF32Generic(buf[j*kl:(j+1)*kl], w[j*ldw+k0:j*ldw+k0+kl])
		}
		for t := 0; t < kl; t += 8 {
			g := k0 + t // global column
			for j := 0; j < 4; j++ {
				wf := buf[j*kl+t : j*kl+t+8]
				if (g/8)%2 == 1 {
					fmaLanes(&hi[j], x[g:g+8], wf)
				} else {
					fmaLanes(&lo[j], x[g:g+8], wf)
				}
			}
		}
	}
	o := out[:4]
	for j := range o {
		addLanes(&lo[j], &hi[j])
		o[j] = hsum4(&lo[j])
		if k8 < k {
			o[j] += dotF16Generic(x[k8:k], w[j*ldw+k8:j*ldw+k])
		}
	}
}

// gemm4x24Generic models gemm4x24AVX: every output is one fused
// multiply-add chain over t, started from zero.
func gemm4x24Generic(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	for i := 0; i < 4; i++ {
		var r [24]float32
		ai := i * sai
		for t := 0; t < k; t++ {
			av := a[ai+t*sak]
			bt := b[t*ldb : t*ldb+24 : t*ldb+24]
			for j, bv := range bt {
				if fusedFMA {
					r[j] = fma32(av, bv, r[j])
					continue
				}
				// fma32Emulated, its fast path written out (see fmaLanes).
				p := float64(av) * float64(bv)
				s := p + float64(r[j])
				if roundsOnce(s) {
					r[j] = float32(s)
				} else {
					r[j] = fma32Slow(p, float64(r[j]), s)
				}
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

// fma32Emulated returns a·b + c rounded once, as VFMADD231PS does, on
// hardware without a fused multiply-add (fma32 is this there). The product of
// two float32 is exact in float64, so the float64 sum s carries a single
// rounding error; rounding s to float32 is then correct unless s sits on a
// float32 rounding boundary (low 29 bits 1000…0) or below the normal
// float32 range, where fma32Slow settles the direction with the exact error
// (the method of musl's fmaf).
func fma32Emulated(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	if roundsOnce(s) {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

// roundsOnce reports whether rounding s, the float64 sum of an exact
// product and a float32, to float32 gives the correctly rounded fused
// result: s is not on a float32 rounding boundary (low 29 bits 1000…0) and
// is within the normal float32 range. fma32's fast path; the hot loops of
// the portable products write that path out, since fma32 with its slow
// call is too large to inline.
func roundsOnce(s float64) bool {
	u := math.Float64bits(s)
	return u&(1<<29-1) != 1<<28 && u>>52&0x7ff >= 1023-126
}

// fma32Slow rounds s = p+c (rounded to float64) to float32 as if from the
// exact sum: with the exact error e (TwoSum), an inexact s whose last bit
// is even moves one float64 step towards e. That is rounding to odd, which
// a later rounding to a precision 2+ bits shorter (float32, subnormals
// included) cannot spoil.
//
//go:noinline
func fma32Slow(p, c, s float64) float32 {
	if s-s != 0 { // Inf or NaN
		return float32(s)
	}
	bp := s - p
	e := (p - (s - bp)) + (c - bp)
	if u := math.Float64bits(s); e != 0 && u&1 == 0 {
		if (e > 0) == (s > 0) {
			u++
		} else {
			u--
		}
		s = math.Float64frombits(u)
	}
	return float32(s)
}

// The constants of the assembly's EXP macro (Cephes expf), by their bits.
var (
	expHi    = math.Float32frombits(0x42b20000) // 89
	expLo    = math.Float32frombits(0xc2d00000) // -104
	expLog2e = math.Float32frombits(0x3fb8aa3b)
	expMagic = math.Float32frombits(0x4b400000) // 1.5·2²³: adding it rounds to an integer
	expC1    = math.Float32frombits(0x3f318000) // ln 2 = c1 − c2, c1 exact in few bits
	expC2    = math.Float32frombits(0xb95e8083)
	expP0    = math.Float32frombits(0x39506967)
	expP1    = math.Float32frombits(0x3ab743ce)
	expP2    = math.Float32frombits(0x3c088908)
	expP3    = math.Float32frombits(0x3d2aa9c1)
	expP4    = math.Float32frombits(0x3e2aaaaa)
	expP5    = math.Float32frombits(0x3f000000)
)

// expf is e^x computed exactly as the assembly's EXP macro does for one
// lane: n = round(x·log2 e), b = x − n·ln 2 in two fused steps, e^b by a
// degree-5 polynomial in Horner form, times 2^n in two halves. About 1 ulp
// from the correctly rounded value; NaN passes through.
func expf(x float32) float32 {
	if x != x {
		return x
	}
	b := x
	if !(b < expHi) {
		b = expHi
	}
	if !(b > expLo) {
		b = expLo
	}
	n := fma32(b, expLog2e, expMagic) - expMagic
	b = fma32(-n, expC1, b)
	b = fma32(-n, expC2, b)
	p := fma32(b, expP0, expP1)
	p = fma32(b, p, expP2)
	p = fma32(b, p, expP3)
	p = fma32(b, p, expP4)
	p = fma32(b, p, expP5)
	p = fma32(float32(b*b), p, b)
	p += 1
	ni := int32(n)
	h := ni >> 1
	p *= math.Float32frombits(uint32(ni-h+127) << 23)
	p *= math.Float32frombits(uint32(h+127) << 23)
	return p
}

// silu is x·sigmoid(x) computed as x/(1+e^-x).
func silu(x float32) float32 { return x / (expf(-x) + 1) }

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

// expSubGeneric models expSubAVX over the first len&^7 elements (two
// float64 registers of four lanes, reduced as (s0+s2)+(s1+s3) with
// s_l = lo_l + hi_l) and adds the rest one by one.
func expSubGeneric(x []float32, m float32) float64 {
	n := len(x) &^ 7
	var s float64
	if n > 0 {
		var lo, hi [4]float64
		for i := 0; i < n; i += 8 {
			for l := range 8 {
				e := expf(x[i+l] - m)
				x[i+l] = e
				if l < 4 {
					lo[l] += float64(e)
				} else {
					hi[l-4] += float64(e)
				}
			}
		}
		for l := range lo {
			lo[l] += hi[l]
		}
		s = (lo[0] + lo[2]) + (lo[1] + lo[3])
	}
	var t float64
	for i := n; i < len(x); i++ {
		e := expf(x[i] - m)
		x[i] = e
		t += float64(e)
	}
	return s + t
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

// f16ToF32Generic converts by table (f16Table, kernels_portable.go): one
// load per value, the bits of halfToFloat.
func f16ToF32Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	tab := &f16Table
	for i, h := range src {
		dst[i] = tab[h]
	}
}

func f32ToF16Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = float16.Fromfloat32(f).Bits()
	}
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
