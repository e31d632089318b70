package simd

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// The portable kernels model the assembly bit for bit (kernels_generic.go).
// These tests run both on the same inputs and want identical bits; they
// skip where there is no assembly.

func needAsm(t *testing.T) {
	t.Helper()
	if !useAsm || !useF16C {
		t.Skip("no AVX2+FMA+F16C kernels on this machine or build")
	}
}

// generic runs f with the portable kernels selected.
func generic(f func()) {
	asm, f16c := useAsm, useF16C
	useAsm, useF16C = false, false
	defer func() { useAsm, useF16C = asm, f16c }()
	f()
}

func sameBits32(t *testing.T, what string, asm, gen []float32) {
	t.Helper()
	for i := range asm {
		if math.Float32bits(asm[i]) != math.Float32bits(gen[i]) && !(asm[i] != asm[i] && gen[i] != gen[i]) {
			t.Fatalf("%s [%d]: assembly %v (%#x), portable %v (%#x)", what, i, asm[i], math.Float32bits(asm[i]), gen[i], math.Float32bits(gen[i]))
		}
	}
}

// mirrorSlice mixes normal values with the cases where a fused and an
// unfused multiply-add differ most: cancellation, tiny and huge terms,
// zeros of both signs.
func mirrorSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		switch r.IntN(10) {
		case 0:
			s[i] = 0
		case 1:
			s[i] = float32(math.Copysign(0, -1))
		case 2:
			s[i] = float32(r.NormFloat64() * 1e-20)
		case 3:
			s[i] = float32(r.NormFloat64() * 1e18)
		default:
			s[i] = float32(r.NormFloat64())
		}
	}
	return s
}

var mirrorLens = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 63, 64, 65, 100, 257, 288, 768, 1001}

func TestMirrorVector(t *testing.T) {
	needAsm(t)
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range mirrorLens {
		for trial := range 20 {
			x, y := mirrorSlice(r, n), mirrorSlice(r, n)
			name := fmt.Sprintf("n=%d trial %d", n, trial)
			var d1, d2, s1, s2 float32
			d1 = dot(x, y)
			s1 = sum(x)
			generic(func() { d2, s2 = dot(x, y), sum(x) })
			sameBits32(t, "dot "+name, []float32{d1, s1}, []float32{d2, s2})

			a := float32(r.NormFloat64())
			y1, y2 := append([]float32(nil), y...), append([]float32(nil), y...)
			axpy(a, x, y1)
			generic(func() { axpy(a, x, y2) })
			sameBits32(t, "axpy "+name, y1, y2)

			// Element-wise: e^x over the whole range, SiLU, SwiGLU, softmax.
			z := make([]float32, n)
			for i := range z {
				z[i] = float32(r.Float64()*220 - 115)
			}
			if n > 2 {
				z[0], z[1], z[2] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
			}
			e1, e2 := make([]float32, n), make([]float32, n)
			expVec(e1, z)
			generic(func() { expVec(e2, z) })
			sameBits32(t, "exp "+name, e1, e2)
			siluVec(e1, z)
			generic(func() { siluVec(e2, z) })
			sameBits32(t, "silu "+name, e1, e2)
			swigluVec(e1, z, x)
			generic(func() { swigluVec(e2, z, x) })
			sameBits32(t, "swiglu "+name, e1, e2)
			if n > 0 {
				m := maxOf(x)
				c1, c2 := append([]float32(nil), x...), append([]float32(nil), x...)
				t1 := expSub(c1, m)
				var t2 float64
				generic(func() { t2 = expSub(c2, m) })
				sameBits32(t, "expSub "+name, c1, c2)
				if math.Float64bits(t1) != math.Float64bits(t2) {
					t.Fatalf("expSub sum %s: assembly %v, portable %v", name, t1, t2)
				}
			}

			h := randHalf(r, n)
			var f1, f2 float32
			f1 = dotF16(x, h)
			generic(func() { f2 = dotF16(x, h) })
			sameBits32(t, "dotF16 "+name, []float32{f1}, []float32{f2})
		}
	}
}

func TestMirrorKernels(t *testing.T) {
	needAsm(t)
	r := rand.New(rand.NewPCG(43, 44))
	for _, k := range mirrorLens[1:] {
		for _, acc := range []bool{false, true} {
			ld := k + 5
			x, w := mirrorSlice(r, 3*ld), mirrorSlice(r, 4*ld)
			h := randHalf(r, 4*ld)
			name := fmt.Sprintf("k=%d acc=%v", k, acc)
			o1, o2 := mirrorSlice(r, 3*ld), []float32(nil)
			o2 = append(o2, o1...)
			kern1x4(o1, x, w, ld, k, acc)
			generic(func() { kern1x4(o2, x, w, ld, k, acc) })
			sameBits32(t, "kern1x4 "+name, o1, o2)
			kern3x4(o1, ld, x, ld, w, ld, k, acc)
			generic(func() { kern3x4(o2, ld, x, ld, w, ld, k, acc) })
			sameBits32(t, "kern3x4 "+name, o1, o2)
			kern1x4F16(o1, x, h, ld, k)
			generic(func() { kern1x4F16(o2, x, h, ld, k) })
			sameBits32(t, "kern1x4F16 "+name, o1, o2)

			ldb, ldc := 24+3, 24+1
			b := mirrorSlice(r, k*ldb)
			c1 := mirrorSlice(r, 4*ldc)
			c2 := append([]float32(nil), c1...)
			gemm4x24(c1, ldc, x, ld/4+1, 1, b, ldb, k/4+1, acc)
			generic(func() { gemm4x24(c2, ldc, x, ld/4+1, 1, b, ldb, k/4+1, acc) })
			sameBits32(t, "gemm4x24 "+name, c1, c2)
		}
	}
}

// TestMirrorDrivers runs the public matrix products, whose drivers tile
// and pack differently with sizes, on both paths.
func TestMirrorDrivers(t *testing.T) {
	needAsm(t)
	r := rand.New(rand.NewPCG(45, 46))
	for _, sz := range [][3]int{{1, 7, 9}, {1, 33, 288}, {5, 64, 64}, {3, 130, 172}, {64, 96, 768}, {17, 512, 64}} {
		n, rows, cols := sz[0], sz[1], sz[2]
		name := fmt.Sprintf("%v", sz)
		x, w := mirrorSlice(r, n*cols), mirrorSlice(r, rows*cols)
		wh := randHalf(r, rows*cols)
		run := func(f func(out []float32)) {
			o1, o2 := make([]float32, n*rows), make([]float32, n*rows)
			f(o1)
			generic(func() { f(o2) })
			sameBits32(t, name, o1, o2)
		}
		run(func(o []float32) { MatMul(o, x, w, n, rows, cols) })
		run(func(o []float32) { MatMulF16(o, x, wh, n, rows, cols) })
		if n == 1 {
			run(func(o []float32) { MatVec(o, w, x, rows, cols) })
			run(func(o []float32) { MatVecF16(o, wh, x, rows, cols) })
		}
		dy := mirrorSlice(r, n*rows)
		in := func(f func(dx []float32)) {
			d1, d2 := mirrorSlice(r, n*cols), []float32(nil)
			d2 = append(d2, d1...)
			f(d1)
			generic(func() { f(d2) })
			sameBits32(t, name+" back", d1, d2)
		}
		in(func(dx []float32) { MatMulBackIn(dx, dy, w, n, rows, cols) })
		in(func(dx []float32) { MatMulBackInF16(dx, dy, wh, n, rows, cols) })
		dw1, dw2 := mirrorSlice(r, rows*cols), []float32(nil)
		dw2 = append(dw2, dw1...)
		MatMulBackW(dw1, dy, x, n, rows, cols)
		generic(func() { MatMulBackW(dw2, dy, x, n, rows, cols) })
		sameBits32(t, name+" backW", dw1, dw2)
		sm1 := mirrorSlice(r, cols)
		sm2 := append([]float32(nil), sm1...)
		Softmax(sm1)
		generic(func() { Softmax(sm2) })
		sameBits32(t, name+" softmax", sm1, sm2)
	}
}

// TestFMA32 checks fma32 against exact arithmetic (math/big) rounded once
// to float32, on random operands and on sums built to land exactly on, or
// one float64 step beside, a float32 rounding boundary, where a plain
// float64 sum rounds twice; and in the subnormal range.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	check := func(a, b, c float32) {
		t.Helper()
		x := new(big.Float).SetPrec(300).SetFloat64(float64(a))
		x.Mul(x, new(big.Float).SetPrec(300).SetFloat64(float64(b)))
		x.Add(x, new(big.Float).SetPrec(300).SetFloat64(float64(c)))
		want, _ := x.Float32()
		if got := fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) && !(want == 0 && got == 0) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%#x), want %g (%#x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	for range 200000 {
		a, b, c := float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
		check(a, b, c)
		// c cancels most of a·b: the sum keeps the product's low bits.
		check(a, b, -float32(float64(a)*float64(b)))
		// Tiny operands: subnormal results.
		check(a*0x1p-70, b*0x1p-70, c*0x1p-140)
	}
	// a·b with 48 significant bits whose bits 24..: a product of two 24-bit
	// odd integers, plus a c that puts the float64 sum on a float32
	// halfway point with the remaining error beyond float64's precision.
	for range 200000 {
		a := float32(r.Uint32()>>8 | 1)
		b := float32(r.Uint32()>>8 | 1)
		p := float64(a) * float64(b)
		ulp32 := math.Ldexp(1, int(math.Floor(math.Log2(p)))-23)
		half := math.Floor(p/ulp32)*ulp32 + ulp32/2
		c := float32(half - p) // brings the sum near the halfway point
		check(a, b, c)
		check(a, b, math.Nextafter32(c, 0))
		check(a, b, -c)
		check(a*0x1p-80, b*0x1p-80, c*0x1p-160)
	}
	// Subnormal results: c an odd multiple of 2⁻¹⁴⁹, a·b = 2⁻¹⁵⁰(1 − m²2⁻⁴⁶)
	// just below half a step, which a float64 sum rounds onto the
	// halfway point (there its low 29 bits are zero, unlike a normal
	// boundary).
	for range 20000 {
		m := float32(1 + r.IntN(1<<10))
		a := float32(0x1p-75) * (1 + m*0x1p-23)
		b := float32(0x1p-75) * (1 - m*0x1p-23)
		c := float32(2*r.IntN(1<<22)+1) * 0x1p-149
		check(a, b, c)
		check(-a, b, -c)
	}
}
