package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var vecSizes = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 1024, 1031}

func TestVectorOps(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range vecSizes {
			x, y := randSlice(r, n), randSlice(r, n)
			want, mag := refDot(x, y)
			if got := Dot(x, y); !closeTo(got, want, mag, n) {
				t.Errorf("Dot n=%d: %v, want %v", n, got, want)
			}
			var ws, wa float64
			for _, v := range x {
				ws += float64(v)
				wa += math.Abs(float64(v))
			}
			if got := Sum(x); !closeTo(got, ws, wa, n) {
				t.Errorf("Sum n=%d: %v, want %v", n, got, ws)
			}

			// Elementwise ops are exact per element (FMA in Axpy may differ
			// from a separate multiply and add by one rounding).
			a := float32(r.NormFloat64())
			yy := append([]float32(nil), y...)
			Axpy(a, x, yy)
			for i := range yy {
				want := float64(a)*float64(x[i]) + float64(y[i])
				if !closeTo(yy[i], want, math.Abs(float64(a)*float64(x[i]))+math.Abs(float64(y[i])), 1) {
					t.Fatalf("Axpy n=%d i=%d: %v want %v", n, i, yy[i], want)
				}
			}
			xx := append([]float32(nil), x...)
			Scale(a, xx)
			for i := range xx {
				if xx[i] != a*x[i] {
					t.Fatalf("Scale n=%d i=%d", n, i)
				}
			}
			dst := withGuard(n)
			Add(dst[:n], x, y)
			checkGuard(t, dst, n)
			for i := 0; i < n; i++ {
				if dst[i] != x[i]+y[i] {
					t.Fatalf("Add n=%d i=%d", n, i)
				}
			}
			Mul(dst[:n], x, y)
			checkGuard(t, dst, n)
			for i := 0; i < n; i++ {
				if dst[i] != x[i]*y[i] {
					t.Fatalf("Mul n=%d i=%d", n, i)
				}
			}
			// Aliasing: dst is x, then dst is y, then all three are one slice.
			xx = append(xx[:0], x...)
			Add(xx, xx, y)
			yy = append(yy[:0], y...)
			Mul(yy, x, yy)
			zz := append([]float32(nil), x...)
			Add(zz, zz, zz)
			for i := 0; i < n; i++ {
				if xx[i] != x[i]+y[i] || yy[i] != x[i]*y[i] || zz[i] != x[i]+x[i] {
					t.Fatalf("aliased Add/Mul n=%d i=%d", n, i)
				}
			}
		}
	})
}

func TestLengthPanics(t *testing.T) {
	cases := map[string]func(){
		"Dot":       func() { Dot(make([]float32, 3), make([]float32, 4)) },
		"Add":       func() { Add(make([]float32, 3), make([]float32, 3), make([]float32, 4)) },
		"Axpy":      func() { Axpy(1, make([]float32, 3), make([]float32, 4)) },
		"MatVec":    func() { MatVec(make([]float32, 3), make([]float32, 11), make([]float32, 4), 3, 4) },
		"MatVecF16": func() { MatVecF16(make([]float32, 2), make([]uint16, 12), make([]float32, 4), 3, 4) },
		"MatMul":    func() { MatMul(make([]float32, 6), make([]float32, 7), make([]float32, 12), 2, 3, 4) },
		"BackIn":    func() { MatMulBackIn(make([]float32, 7), make([]float32, 6), make([]float32, 12), 2, 3, 4) },
		"BackW":     func() { MatMulBackW(make([]float32, 12), make([]float32, 5), make([]float32, 8), 2, 3, 4) },
		"F16ToF32":  func() { F16ToF32(make([]float32, 3), make([]uint16, 4)) },
		"RMSNorm":   func() { RMSNorm(make([]float32, 3), make([]float32, 4), make([]float32, 4), 1e-5) },
		"RoPE":      func() { RoPE(make([]float32, 8), 2, 4, 3, make([]float32, 2), make([]float32, 2)) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		})
	}
}

type shape struct{ n, rows, cols int }

func matShapes() []shape {
	var s []shape
	for _, rows := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33, 67} {
		for _, cols := range []int{1, 3, 7, 8, 9, 16, 17, 31, 33, 257} {
			s = append(s, shape{1, rows, cols})
		}
	}
	// Large enough to run on the pool; cols above kcMax are tiled.
	s = append(s, shape{1, 301, 1000}, shape{1, 1030, 67}, shape{1, 64, 2053})
	return s
}

func TestMatVec(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, sh := range matShapes() {
			rows, cols := sh.rows, sh.cols
			w, x := randSlice(r, rows*cols), randSlice(r, cols)
			want, mag := refMatMul(x, w, 1, rows, cols)
			out := withGuard(rows)
			MatVec(out, w, x, rows, cols)
			checkGuard(t, out, rows)
			checkClose(t, fmt.Sprintf("MatVec %dx%d", rows, cols), out, want, mag, cols)

			wh := randHalf(r, rows*cols)
			want, mag = refMatMul(x, halfs(wh), 1, rows, cols)
			out = withGuard(rows)
			MatVecF16(out, wh, x, rows, cols)
			checkGuard(t, out, rows)
			checkClose(t, fmt.Sprintf("MatVecF16 %dx%d", rows, cols), out, want, mag, cols)
		}
	})
}

func mmShapes() []shape {
	var s []shape
	for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 10} {
		for _, rows := range []int{1, 3, 4, 5, 8, 33} {
			for _, cols := range []int{1, 7, 8, 9, 33, 100} {
				s = append(s, shape{n, rows, cols})
			}
		}
	}
	return append(s, shape{65, 67, 257}, shape{100, 130, 1100}, shape{7, 37, 2051}, shape{200, 70, 64})
}

func TestMatMul(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, sh := range mmShapes() {
			n, rows, cols := sh.n, sh.rows, sh.cols
			x, w := randSlice(r, n*cols), randSlice(r, rows*cols)
			want, mag := refMatMul(x, w, n, rows, cols)
			out := withGuard(n * rows)
			MatMul(out, x, w, n, rows, cols)
			checkGuard(t, out, n*rows)
			checkClose(t, fmt.Sprintf("MatMul %v", sh), out, want, mag, cols)

			wh := randHalf(r, rows*cols)
			want, mag = refMatMul(x, halfs(wh), n, rows, cols)
			out = withGuard(n * rows)
			MatMulF16(out, x, wh, n, rows, cols)
			checkGuard(t, out, n*rows)
			checkClose(t, fmt.Sprintf("MatMulF16 %v", sh), out, want, mag, cols)
		}
	})
}

func TestMatMulBack(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		shapes := append(mmShapes(), shape{9, 300, 50}, shape{3, 5, 700}, shape{70, 33, 25})
		for _, sh := range shapes {
			n, rows, cols := sh.n, sh.rows, sh.cols
			dy, w := randSlice(r, n*rows), randSlice(r, rows*cols)
			want, mag := refBackIn(dy, w, n, rows, cols)
			dx := withGuard(n * cols)
			for i := range n * cols {
				dx[i] = 1e6 // overwritten, not accumulated
			}
			MatMulBackIn(dx, dy, w, n, rows, cols)
			checkGuard(t, dx, n*cols)
			checkClose(t, fmt.Sprintf("MatMulBackIn %v", sh), dx, want, mag, rows)

			wh := randHalf(r, rows*cols)
			want, mag = refBackIn(dy, halfs(wh), n, rows, cols)
			dx = withGuard(n * cols)
			MatMulBackInF16(dx, dy, wh, n, rows, cols)
			checkGuard(t, dx, n*cols)
			checkClose(t, fmt.Sprintf("MatMulBackInF16 %v", sh), dx, want, mag, rows)

			x := randSlice(r, n*cols)
			dw0 := randSlice(r, rows*cols)
			want, mag = refBackW(dw0, dy, x, n, rows, cols)
			dw := withGuard(rows * cols)
			copy(dw, dw0)
			MatMulBackW(dw, dy, x, n, rows, cols)
			checkGuard(t, dw, rows*cols)
			checkClose(t, fmt.Sprintf("MatMulBackW %v", sh), dw, want, mag, n+1)
		}
	})
}

// TestPathsAgree runs the same products on both paths and compares them
// with each other.
func TestPathsAgree(t *testing.T) {
	if !useAsm {
		t.Skip("no assembly path on this build")
	}
	r := rand.New(rand.NewPCG(9, 10))
	n, rows, cols := 13, 45, 301
	x, w, wh := randSlice(r, n*cols), randSlice(r, rows*cols), randHalf(r, rows*cols)
	run := func() [][]float32 {
		a, b, c := make([]float32, n*rows), make([]float32, n*rows), make([]float32, rows)
		MatMul(a, x, w, n, rows, cols)
		MatMulF16(b, x, wh, n, rows, cols)
		MatVecF16(c, wh, x, rows, cols)
		d := make([]float32, n*cols)
		MatMulBackIn(d, a, w, n, rows, cols)
		return [][]float32{a, b, c, d}
	}
	fast := run()
	useAsm, useF16C = false, false
	slow := run()
	useAsm, useF16C = true, true
	for k := range fast {
		for i := range fast[k] {
			d := math.Abs(float64(fast[k][i] - slow[k][i]))
			if d > 1e-4*(1+math.Abs(float64(slow[k][i]))) {
				t.Fatalf("result %d element %d: asm %v, generic %v", k, i, fast[k][i], slow[k][i])
			}
		}
	}
}

func TestAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	n, rows, cols := 16, 512, 256
	x, w, wh := randSlice(r, n*cols), randSlice(r, rows*cols), randHalf(r, rows*cols)
	out := make([]float32, n*rows)
	dx := make([]float32, n*cols)
	dw := make([]float32, rows*cols)
	cases := map[string]func(){
		"MatVec":          func() { MatVec(out, w, x, rows, cols) },
		"MatVecF16":       func() { MatVecF16(out, wh, x, rows, cols) },
		"MatMul":          func() { MatMul(out, x, w, n, rows, cols) },
		"MatMulF16":       func() { MatMulF16(out, x, wh, n, rows, cols) },
		"MatMulBackIn":    func() { MatMulBackIn(dx, out, w, n, rows, cols) },
		"MatMulBackInF16": func() { MatMulBackInF16(dx, out, wh, n, rows, cols) },
		"MatMulBackW":     func() { MatMulBackW(dw, out, x, n, rows, cols) },
		"F16ToF32":        func() { F16ToF32(dw[:len(wh)], wh) },
		"Softmax":         func() { Softmax(out) },
	}
	for name, f := range cases {
		f() // warm the free lists
		if a := testing.AllocsPerRun(20, f); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}
