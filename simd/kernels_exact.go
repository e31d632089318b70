package simd

import "math"

// The exact fast kernels: the pure WebAssembly guest's products
// (kernels_wasm.go). They are the portable kernels' layout (lane by lane,
// accumulators in registers, f16 by table) with every multiply-add fused
// exactly, as the models' fma32 does, so they give the models' bits, i.e.
// the AVX2 build's, on every platform; TestExactMatchesModel holds them
// to the models bit for bit. WebAssembly has no fused multiply-add, so
// each step is the emulation's fast path written out: the float64 product
// of two float32 is exact, the float64 sum is rounded once, and rounding
// that sum to float32 gives the fused result unless it sits on a float32
// rounding boundary or below the normal range (roundsTwice); four steps
// share one test, and a rare failing four is redone by fma32Slow.

// roundsTwice is 1 when rounding s (the float64 sum of an exact product
// and a float32) to float32 may not give the fused result: the negation of
// roundsOnce, as a bit, so that several can be tested with one branch.
func roundsTwice(s float64) uint64 {
	u := math.Float64bits(s)
	boundary := (u&(1<<29-1) ^ 1<<28) - 1 // top bit set iff on a boundary
	tiny := u>>52&0x7ff - (1023 - 126)    // top bit set iff below the normal range
	return (boundary | tiny) >> 63
}

// kern1x4F16Exact is kern1x4F16Generic with kern1x4F16Portable's layout.
func kern1x4F16Exact(out, x []float32, w []uint16, ldw, k int) {
	k8 := k &^ 7
	var s [4]lanes
	f16Lanes4Exact(&s, x[:k8], w[:k8], w[ldw:][:k8], w[2*ldw:][:k8], w[3*ldw:][:k8])
	o := out[:4]
	for j := range o {
		o[j] = hsum4(&s[j])
		if k8 < k {
			o[j] += dotF16Generic(x[k8:k], w[j*ldw+k8:j*ldw+k])
		}
	}
}

// f16Lanes4Exact is f16Lanes4 with exactly fused multiply-adds.
func f16Lanes4Exact(s *[4]lanes, x []float32, r0, r1, r2, r3 []uint16) {
	for l := 0; l < 8; l++ {
		lo0, lo1, lo2, lo3 := f16Chains4Exact(x, r0, r1, r2, r3, l)
		hi0, hi1, hi2, hi3 := f16Chains4Exact(x, r0, r1, r2, r3, l+8)
		s[0][l], s[1][l], s[2][l], s[3][l] = lo0+hi0, lo1+hi1, lo2+hi2, lo3+hi3
	}
}

// f16Chains4Exact returns four rows' fused chains Σ x[t]·r[t] over
// t = t0, t0+16, … < len(x), in column order.
func f16Chains4Exact(x []float32, r0, r1, r2, r3 []uint16, t0 int) (a0, a1, a2, a3 float32) {
	n := len(x)
	r0, r1, r2, r3 = r0[:n], r1[:n], r2[:n], r3[:n]
	for t := t0; t < n; t += 16 {
		xt := float64(x[t])
		p0 := xt * float64(f16Table[r0[t]])
		p1 := xt * float64(f16Table[r1[t]])
		p2 := xt * float64(f16Table[r2[t]])
		p3 := xt * float64(f16Table[r3[t]])
		s0, s1, s2, s3 := p0+float64(a0), p1+float64(a1), p2+float64(a2), p3+float64(a3)
		if roundsTwice(s0)|roundsTwice(s1)|roundsTwice(s2)|roundsTwice(s3) == 0 {
			a0, a1, a2, a3 = float32(s0), float32(s1), float32(s2), float32(s3)
			continue
		}
		a0 = fma32Slow(p0, float64(a0), s0)
		a1 = fma32Slow(p1, float64(a1), s1)
		a2 = fma32Slow(p2, float64(a2), s2)
		a3 = fma32Slow(p3, float64(a3), s3)
	}
	return
}

// kern3x4Exact is kern3x4Generic with kern3x4Portable's layout.
func kern3x4Exact(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	kern3x4Lanes(lane3x2Exact, out, ldo, x, ldx, w, ldw, k, acc)
}

// lane3x2Exact is lane3x2 with exactly fused multiply-adds, three at a
// time (one w value against the three x rows).
func lane3x2Exact(x0, x1, x2, wa, wb []float32, l int) (a0, a1, a2, b0, b1, b2 float32) {
	k := len(x0)
	x1, x2, wa, wb = x1[:k], x2[:k], wa[:k], wb[:k]
	t := l
	for ; t < k; t += 8 {
		u0, u1, u2 := float64(x0[t]), float64(x1[t]), float64(x2[t])
		v := float64(wa[t])
		p0, p1, p2 := u0*v, u1*v, u2*v
		s0, s1, s2 := p0+float64(a0), p1+float64(a1), p2+float64(a2)
		if roundsTwice(s0)|roundsTwice(s1)|roundsTwice(s2) == 0 {
			a0, a1, a2 = float32(s0), float32(s1), float32(s2)
		} else {
			a0 = fma32Slow(p0, float64(a0), s0)
			a1 = fma32Slow(p1, float64(a1), s1)
			a2 = fma32Slow(p2, float64(a2), s2)
		}
		v = float64(wb[t])
		p0, p1, p2 = u0*v, u1*v, u2*v
		s0, s1, s2 = p0+float64(b0), p1+float64(b1), p2+float64(b2)
		if roundsTwice(s0)|roundsTwice(s1)|roundsTwice(s2) == 0 {
			b0, b1, b2 = float32(s0), float32(s1), float32(s2)
		} else {
			b0 = fma32Slow(p0, float64(b0), s0)
			b1 = fma32Slow(p1, float64(b1), s1)
			b2 = fma32Slow(p2, float64(b2), s2)
		}
	}
	if k8 := k &^ 7; k8 < k && t < k8+8 {
		a0, a1, a2, b0, b1, b2 = a0+0, a1+0, a2+0, b0+0, b1+0, b2+0
	}
	return
}
