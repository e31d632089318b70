package simd

// The fast portable kernels: what -tags noasm, riscv64 and every other
// architecture without assembly run (kernels_other.go) for the products
// that dominate decode and prefill. Each follows its model in
// kernels_generic.go chain for chain: every accumulator lane sums the same
// products in the same order, and the lanes are reduced in the same tree.
// Only the layout of the work differs, for a scalar machine: lane by lane
// (one lane's chain does not depend on the others'), with up to twelve
// scalar accumulators that stay in registers instead of the models' arrays,
// and half-precision weights converted by one table load.
//
// The multiply-adds are written acc = x*w + acc, which the Go compiler
// fuses into one instruction where the architecture has one (arm64,
// riscv64, ppc64le, s390x, loong64; amd64 with GOAMD64=v3): there these
// kernels give the models' bits, i.e. the AVX2 build's. Elsewhere (amd64
// below v3 with noasm, 386) the product is rounded before the add, which
// moves each term by at most half an ulp of the product
// (TestPortableMatchesModel checks both cases). The pure WebAssembly guest
// has no fused multiply-add either and must reproduce native bits, so it
// runs this layout with exactly emulated fused multiply-adds
// (kernels_exact.go) or the models themselves (kernels_wasm.go).

// f16Table holds the float32 value of every half, so that a conversion is
// one load (f16ToF32Generic and the portable products). Filled from
// halfToFloat, which is bit-identical to x448/float16.
var f16Table [1 << 16]float32

func init() {
	for h := range f16Table {
		f16Table[h] = halfToFloat(uint16(h))
	}
}

// kern1x4Portable is kern1x4Generic lane by lane: for lane l, row j keeps
// lo_j (columns l, l+16, …: the even eights) and hi_j (l+8, l+24, …: the
// odd eights, then the masked tail).
func kern1x4Portable(out, x, w []float32, ldw, k int, acc bool) {
	k8 := k &^ 7
	k16 := k &^ 15
	x = x[:k]
	r0, r1, r2, r3 := w[:k], w[ldw:][:k], w[2*ldw:][:k], w[3*ldw:][:k]
	var s [4]lanes
	for l := 0; l < 8; l++ {
		var lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3 float32
		for t := l; t < k16; t += 16 {
			xl, xh := x[t], x[t+8]
			lo0 = xl*r0[t] + lo0
			lo1 = xl*r1[t] + lo1
			lo2 = xl*r2[t] + lo2
			lo3 = xl*r3[t] + lo3
			hi0 = xh*r0[t+8] + hi0
			hi1 = xh*r1[t+8] + hi1
			hi2 = xh*r2[t+8] + hi2
			hi3 = xh*r3[t+8] + hi3
		}
		if t := k16 + l; t < k8 { // a last, unpaired eight is even
			xl := x[t]
			lo0 = xl*r0[t] + lo0
			lo1 = xl*r1[t] + lo1
			lo2 = xl*r2[t] + lo2
			lo3 = xl*r3[t] + lo3
		}
		if t := k8 + l; t < k { // the masked tail
			xl := x[t]
			hi0 = xl*r0[t] + hi0
			hi1 = xl*r1[t] + hi1
			hi2 = xl*r2[t] + hi2
			hi3 = xl*r3[t] + hi3
		} else if k8 < k { // masked-out lanes add a zero product
			hi0, hi1, hi2, hi3 = hi0+0, hi1+0, hi2+0, hi3+0
		}
		s[0][l], s[1][l], s[2][l], s[3][l] = lo0+hi0, lo1+hi1, lo2+hi2, lo3+hi3
	}
	o := out[:4]
	for j := range o {
		v := hsum4(&s[j])
		if acc {
			v += o[j]
		}
		o[j] = v
	}
}

// kern1x4F16Portable is kern1x4F16Generic lane by lane (as
// kern1x4Portable, without a masked tail: the rest of each row is added
// by dotF16Portable).
func kern1x4F16Portable(out, x []float32, w []uint16, ldw, k int) {
	k8 := k &^ 7
	var s [4]lanes // filled by a direct call: a function value would move s to the heap
	f16Lanes4(&s, x[:k8], w[:k8], w[ldw:][:k8], w[2*ldw:][:k8], w[3*ldw:][:k8])
	o := out[:4]
	for j := range o {
		o[j] = hsum4(&s[j])
		if k8 < k {
			o[j] += dotF16Portable(x[k8:k], w[j*ldw+k8:j*ldw+k])
		}
	}
}

// f16Lanes4 fills the eight lanes of four rows' registers: lane l's
// even-eights chains (columns l, l+16, …, the last unpaired eight
// included) plus its odd-eights chains (l+8, l+24, …). They run as two
// loops of four accumulators, since one loop of eight spills on amd64; in
// a function of its own, and with rows as long as x, the loops keep every
// value in registers and need no bounds checks.
func f16Lanes4(s *[4]lanes, x []float32, r0, r1, r2, r3 []uint16) {
	n := len(x)
	r0, r1, r2, r3 = r0[:n], r1[:n], r2[:n], r3[:n]
	for l := 0; l < 8; l++ {
		var lo0, lo1, lo2, lo3 float32
		for t := l; t < n; t += 16 {
			xt := x[t]
			lo0 = xt*f16Table[r0[t]] + lo0
			lo1 = xt*f16Table[r1[t]] + lo1
			lo2 = xt*f16Table[r2[t]] + lo2
			lo3 = xt*f16Table[r3[t]] + lo3
		}
		var hi0, hi1, hi2, hi3 float32
		for t := l + 8; t < n; t += 16 {
			xt := x[t]
			hi0 = xt*f16Table[r0[t]] + hi0
			hi1 = xt*f16Table[r1[t]] + hi1
			hi2 = xt*f16Table[r2[t]] + hi2
			hi3 = xt*f16Table[r3[t]] + hi3
		}
		s[0][l], s[1][l], s[2][l], s[3][l] = lo0+hi0, lo1+hi1, lo2+hi2, lo3+hi3
	}
}

// dotF16Portable is dotF16Generic four lanes at a time: lanes 4h..4h+3 of
// the even-eights register a0 and the odd-eights register a1.
func dotF16Portable(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	tab := &f16Table
	k8 := len(x) &^ 7
	if k8 == 0 {
		var s float32
		for t, v := range x {
			s += float32(v * tab[w[t]])
		}
		return s
	}
	k16 := k8 &^ 15
	xs, ws := x[:k8], w[:k8]
	var a lanes
	for h := 0; h < 8; h += 4 {
		var e0, e1, e2, e3, o0, o1, o2, o3 float32
		for t := h; t < k16; t += 16 {
			e0 = xs[t]*tab[ws[t]] + e0
			e1 = xs[t+1]*tab[ws[t+1]] + e1
			e2 = xs[t+2]*tab[ws[t+2]] + e2
			e3 = xs[t+3]*tab[ws[t+3]] + e3
			o0 = xs[t+8]*tab[ws[t+8]] + o0
			o1 = xs[t+9]*tab[ws[t+9]] + o1
			o2 = xs[t+10]*tab[ws[t+10]] + o2
			o3 = xs[t+11]*tab[ws[t+11]] + o3
		}
		if t := k16 + h; t < k8 {
			e0 = xs[t]*tab[ws[t]] + e0
			e1 = xs[t+1]*tab[ws[t+1]] + e1
			e2 = xs[t+2]*tab[ws[t+2]] + e2
			e3 = xs[t+3]*tab[ws[t+3]] + e3
		}
		a[h], a[h+1], a[h+2], a[h+3] = e0+o0, e1+o1, e2+o2, e3+o3
	}
	s := hsum1(&a)
	if k8 < len(x) {
		s += dotF16Portable(x[k8:], w[k8:])
	}
	return s
}

// kern3x4Portable is kern3x4Generic lane by lane: for lane l, each of
// the twelve outputs is one chain over the columns ≡ l mod 8, the masked
// tail included. The chains are run six at a time (three x rows against
// a pair of w rows), which fits amd64's sixteen registers.
func kern3x4Portable(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	kern3x4Lanes(lane3x2, out, ldo, x, ldx, w, ldw, k, acc)
}

// kern3x4Lanes is kern3x4 with each lane's six chains from lane.
func kern3x4Lanes(lane func(x0, x1, x2, wa, wb []float32, l int) (a0, a1, a2, b0, b1, b2 float32),
	out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	x0, x1, x2 := x[:k], x[ldx:][:k], x[2*ldx:][:k]
	var s [3][4]lanes
	for j := 0; j < 4; j += 2 {
		wa, wb := w[j*ldw:][:k], w[(j+1)*ldw:][:k]
		for l := 0; l < 8; l++ {
			s[0][j][l], s[1][j][l], s[2][j][l], s[0][j+1][l], s[1][j+1][l], s[2][j+1][l] = lane(x0, x1, x2, wa, wb, l)
		}
	}
	for i := range s {
		o := out[i*ldo : i*ldo+4]
		for j := range o {
			v := hsum4(&s[i][j])
			if acc {
				v += o[j]
			}
			o[j] = v
		}
	}
}

// lane3x2 returns lane l of kern3x4's registers for x rows x0, x1, x2
// against w rows wa and wb (all of one length k): Σ over t ≡ l mod 8 of
// x·w, fused in column order, plus the zero product that the masked tail
// adds to a lane past its end.
func lane3x2(x0, x1, x2, wa, wb []float32, l int) (a0, a1, a2, b0, b1, b2 float32) {
	k := len(x0)
	x1, x2, wa, wb = x1[:k], x2[:k], wa[:k], wb[:k]
	t := l
	for ; t < k; t += 8 {
		u0, u1, u2 := x0[t], x1[t], x2[t]
		v := wa[t]
		a0 = u0*v + a0
		a1 = u1*v + a1
		a2 = u2*v + a2
		v = wb[t]
		b0 = u0*v + b0
		b1 = u1*v + b1
		b2 = u2*v + b2
	}
	if k8 := k &^ 7; k8 < k && t < k8+8 {
		a0, a1, a2, b0, b1, b2 = a0+0, a1+0, a2+0, b0+0, b1+0, b2+0
	}
	return
}
