package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 7, 64, 288, 768, 1001} {
		x, w := randSlice(r, n), randSlice(r, n)
		out := make([]float32, n)
		RMSNorm(out, x, w, 1e-5)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		sc := 1 / math.Sqrt(ss/float64(n)+1e-5)
		for i := range x {
			want := float64(x[i]) * sc * float64(w[i])
			if !closeTo(out[i], want, math.Abs(want), 4) {
				t.Fatalf("n=%d i=%d: %v want %v", n, i, out[i], want)
			}
		}
		RMSNorm(x, x, w, 1e-5) // in place
		for i := range x {
			if x[i] != out[i] {
				t.Fatalf("in place differs at %d", i)
			}
		}
	}
}

// ulpDiff returns the distance in units in the last place between two
// finite float32 of the same sign.
func ulpDiff(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

func TestExp(t *testing.T) {
	var xs []float32
	for v := float32(-110); v < 95; v += 0.0137 {
		xs = append(xs, v)
	}
	r := rand.New(rand.NewPCG(29, 30))
	for i := 0; i < 10000; i++ {
		xs = append(xs, float32(r.NormFloat64()*3))
	}
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 88.72, 88.73, -87.33, -103.9, -104, -150,
		inf, -inf, nan, 88.7228, 88.7229, -0.3465736, 0.3465736, 1, -1)
	forPaths(t, func(t *testing.T) {
		got := make([]float32, len(xs))
		expVec(got, xs)
		maxUlp := int64(0)
		for i, x := range xs {
			want := float32(math.Exp(float64(x)))
			g := got[i]
			switch {
			case math.IsNaN(float64(want)):
				if !math.IsNaN(float64(g)) {
					t.Fatalf("exp(%v) = %v, want NaN", x, g)
				}
			case want == 0 || math.IsInf(float64(want), 0) || want < 0x1p-126:
				// Zero, overflow and subnormal results: within two
				// subnormal steps.
				if math.Abs(float64(g-want)) > 0x1p-148 && g != want {
					t.Fatalf("exp(%v) = %v, want %v", x, g, want)
				}
			default:
				if d := ulpDiff(g, want); d > maxUlp {
					maxUlp = d
					if d > 2 {
						t.Fatalf("exp(%v) = %v, want %v (%d ulp)", x, g, want, d)
					}
				}
			}
		}
		t.Logf("max error %d ulp", maxUlp)
	})
}

func TestSoftmax(t *testing.T) {
	forPaths(t, testSoftmax)
}

func testSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 2, 9, 100, 32000} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 10
		}
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		want := make([]float64, n)
		var s float64
		for i, v := range x {
			want[i] = math.Exp(float64(v) - m)
			s += want[i]
		}
		Softmax(x)
		var total float64
		for i := range x {
			if !closeTo(x[i], want[i]/s, want[i]/s, 16) {
				t.Fatalf("n=%d i=%d: %v want %v", n, i, x[i], want[i]/s)
			}
			total += float64(x[i])
		}
		if math.Abs(total-1) > 1e-5 {
			t.Fatalf("n=%d: sum %v", n, total)
		}
	}
	Softmax(nil)
	x := []float32{1000, 1000, -1000}
	Softmax(x)
	if x[0] != 0.5 || x[1] != 0.5 || x[2] != 0 {
		t.Fatalf("large inputs: %v", x)
	}
	// A causal mask: -Inf scores get zero weight.
	inf := float32(math.Inf(-1))
	x = []float32{1, 2, 3, inf, inf, inf, inf, inf, inf, 0, inf}
	Softmax(x)
	if x[3] != 0 || x[10] != 0 || math.Abs(float64(x[0]+x[1]+x[2]+x[9])-1) > 1e-6 {
		t.Fatalf("masked inputs: %v", x)
	}
}

func TestSiLUSwiGLU(t *testing.T) {
	forPaths(t, testSiLUSwiGLU)
}

func testSiLUSwiGLU(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	n := 1000
	g, u := randSlice(r, n), randSlice(r, n)
	for i := range g {
		g[i] *= 8
	}
	g[0], g[1], g[2], g[3] = -100, 100, float32(math.Inf(1)), float32(math.Inf(-1))
	silu64 := func(v float32) float64 { return float64(v) / (1 + math.Exp(-float64(v))) }
	dst := make([]float32, n)
	SwiGLU(dst, g, u)
	s := append([]float32(nil), g...)
	SiLU(s)
	for i := range g {
		if math.IsInf(float64(g[i]), 0) {
			// x/(1+e^-x), as llama.cpp computes it: +Inf at +Inf, NaN at -Inf.
			if want := silu(g[i]); s[i] != want && !(math.IsNaN(float64(s[i])) && math.IsNaN(float64(want))) {
				t.Fatalf("SiLU(%v) = %v, want %v", g[i], s[i], want)
			}
			continue
		}
		if !closeTo(s[i], silu64(g[i]), math.Abs(silu64(g[i])), 4) {
			t.Fatalf("SiLU(%v) = %v want %v", g[i], s[i], silu64(g[i]))
		}
		want := silu64(g[i]) * float64(u[i])
		if !closeTo(dst[i], want, math.Abs(want), 4) {
			t.Fatalf("SwiGLU %d: %v want %v", i, dst[i], want)
		}
	}
	SwiGLU(g, g, u) // dst aliases gate
	for i := range g {
		if g[i] != dst[i] && !math.IsNaN(float64(g[i])) {
			t.Fatalf("aliased SwiGLU differs at %d", i)
		}
	}
}

func TestRoPEFreqs(t *testing.T) {
	for _, tc := range []struct {
		pos, dim int
		base     float32
	}{{0, 64, 10000}, {1, 48, 10000}, {17, 128, 10000}, {1023, 64, 10000}, {5, 32, 500000}} {
		half := tc.dim / 2
		c, s := make([]float32, half+1), make([]float32, half+1)
		c[half], s[half] = sentinel, sentinel
		RoPEFreqs(c, s, tc.pos, tc.dim, tc.base)
		if c[half] != sentinel || s[half] != sentinel {
			t.Fatal("wrote past ropeDim/2")
		}
		// The float32 recurrence, restated.
		ts := float32(math.Pow(float64(tc.base), float64(-2/float32(tc.dim))))
		th := float32(tc.pos)
		for i := 0; i < half; i++ {
			if c[i] != float32(math.Cos(float64(th))) || s[i] != float32(math.Sin(float64(th))) {
				t.Fatalf("%+v i=%d: not llama.cpp's float32 recurrence", tc, i)
			}
			// And close to the exact angle.
			exact := float64(tc.pos) * math.Pow(float64(tc.base), -2*float64(i)/float64(tc.dim))
			tol := exact*float64(i+2)*2e-7 + 1e-6
			if math.Abs(float64(c[i])-math.Cos(exact)) > tol || math.Abs(float64(s[i])-math.Sin(exact)) > tol {
				t.Fatalf("%+v i=%d: cos %v sin %v, exact angle %v", tc, i, c[i], s[i], exact)
			}
			th *= ts
		}
	}
}

func TestRoPE(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	nHeads, headDim := 3, 16
	for _, ropeDim := range []int{16, 8, 0} {
		c, s := make([]float32, 8), make([]float32, 8)
		RoPEFreqs(c, s, 7, max(ropeDim, 2), 10000)
		x := randSlice(r, nHeads*headDim)
		y := append([]float32(nil), x...)
		RoPE(y, nHeads, headDim, ropeDim, c, s)
		for h := 0; h < nHeads; h++ {
			for i := 0; i < headDim/2; i++ {
				p := h*headDim + 2*i
				x0, x1 := float64(x[p]), float64(x[p+1])
				w0, w1 := x0, x1
				if 2*i < ropeDim {
					w0 = x0*float64(c[i]) - x1*float64(s[i])
					w1 = x0*float64(s[i]) + x1*float64(c[i])
				}
				if !closeTo(y[p], w0, math.Abs(x0)+math.Abs(x1), 2) || !closeTo(y[p+1], w1, math.Abs(x0)+math.Abs(x1), 2) {
					t.Fatalf("ropeDim %d head %d pair %d: (%v,%v) want (%v,%v)", ropeDim, h, i, y[p], y[p+1], w0, w1)
				}
			}
		}
		// RoPEBack is the transpose: <RoPE(x), g> = <x, RoPEBack(g)>, and
		// it undoes RoPE.
		g := randSlice(r, nHeads*headDim)
		gb := append([]float32(nil), g...)
		RoPEBack(gb, nHeads, headDim, ropeDim, c, s)
		lhs, mag := refDot(y, g)
		rhs, _ := refDot(x, gb)
		if math.Abs(lhs-rhs) > 1e-5*mag {
			t.Fatalf("ropeDim %d: <RoPE x, g> = %v, <x, RoPEBack g> = %v", ropeDim, lhs, rhs)
		}
		RoPEBack(y, nHeads, headDim, ropeDim, c, s)
		for i := range x {
			if math.Abs(float64(y[i]-x[i])) > 1e-5*(1+math.Abs(float64(x[i]))) {
				t.Fatalf("ropeDim %d: RoPEBack(RoPE(x))[%d] = %v, want %v", ropeDim, i, y[i], x[i])
			}
		}
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		x    []float32
		want int
	}{
		{nil, 0},
		{[]float32{3}, 0},
		{[]float32{1, 5, 2, 5, 0, 0, 0, 0, 0, 0}, 1}, // first on ties
		{[]float32{nan, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0},
		{[]float32{1, nan, 2, 9, 4, 5, 6, 7, 8, 9}, 3},
		{[]float32{-3, -2, -1, -4, -5, -6, -7, -8, -9, -1}, 2},
	} {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}
