package simd

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// Fuzz targets compare the assembly path, the portable path and the
// float64 reference. Their seeds run as part of go test.

// finiteFloats decodes b as float32s, replacing non-finite and huge values
// so that no partial sum overflows.
func finiteFloats(b []byte) []float32 {
	f := make([]float32, len(b)/4)
	for i := range f {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1e15 {
			v = float32(i)
		}
		f[i] = v
	}
	return f
}

// bothPaths returns f computed on the assembly path (if any) and on the
// portable path.
func bothPaths[T any](f func() T) (T, T) {
	asm, f16c := useAsm, useF16C
	a := f()
	useAsm, useF16C = false, false
	g := f()
	useAsm, useF16C = asm, f16c
	return a, g
}

func FuzzDot(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64})
	r := rand.New(rand.NewPCG(31, 32))
	for _, n := range []int{1, 7, 8, 9, 33, 100} {
		b := make([]byte, 8*n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := finiteFloats(b)
		x, y := v[:len(v)/2], v[len(v)/2:2*(len(v)/2)]
		want, mag := refDot(x, y)
		if math.IsInf(mag, 0) || mag > 1e37 {
			return
		}
		a, g := bothPaths(func() float32 { return Dot(x, y) })
		if !closeTo(a, want, mag, len(x)) || !closeTo(g, want, mag, len(x)) {
			t.Fatalf("Dot n=%d: asm %v generic %v want %v", len(x), a, g, want)
		}
	})
}

func FuzzMatVecF16(f *testing.F) {
	f.Add(uint8(4), uint64(1), []byte{0, 60, 0, 188, 0, 0, 255, 123})
	r := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{9, 64, 100, 400} {
		b := make([]byte, 2*n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(uint8(n%7), uint64(n), b)
	}
	f.Fuzz(func(t *testing.T, rowsIn uint8, seed uint64, b []byte) {
		rows := 1 + int(rowsIn%9)
		cols := len(b) / 2 / rows
		if cols == 0 {
			return
		}
		w := make([]uint16, rows*cols)
		for i := range w {
			h := binary.LittleEndian.Uint16(b[2*i:])
			if h&0x7c00 == 0x7c00 { // keep weights finite
				h &^= 0x0400
			}
			w[i] = h
		}
		x := randSlice(rand.New(rand.NewPCG(seed, 35)), cols)
		want, mag := refMatMul(x, halfs(w), 1, rows, cols)
		a, g := bothPaths(func() []float32 {
			out := make([]float32, rows)
			MatVecF16(out, w, x, rows, cols)
			return out
		})
		checkClose(t, "asm", a, want, mag, cols)
		checkClose(t, "generic", g, want, mag, cols)
	})
}

func FuzzMatMul(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint64(1), uint16(17))
	f.Add(uint8(7), uint8(9), uint64(2), uint16(1100))
	f.Add(uint8(1), uint8(4), uint64(3), uint16(8))
	f.Fuzz(func(t *testing.T, nIn, rowsIn uint8, seed uint64, colsIn uint16) {
		n, rows, cols := 1+int(nIn%16), 1+int(rowsIn%40), 1+int(colsIn%1200)
		r := rand.New(rand.NewPCG(seed, 36))
		x, w, wh := randSlice(r, n*cols), randSlice(r, rows*cols), randHalf(r, rows*cols)
		want, mag := refMatMul(x, w, n, rows, cols)
		a, g := bothPaths(func() []float32 {
			out := make([]float32, n*rows)
			MatMul(out, x, w, n, rows, cols)
			return out
		})
		checkClose(t, "MatMul asm", a, want, mag, cols)
		checkClose(t, "MatMul generic", g, want, mag, cols)
		want, mag = refMatMul(x, halfs(wh), n, rows, cols)
		a, g = bothPaths(func() []float32 {
			out := make([]float32, n*rows)
			MatMulF16(out, x, wh, n, rows, cols)
			return out
		})
		checkClose(t, "MatMulF16 asm", a, want, mag, cols)
		checkClose(t, "MatMulF16 generic", g, want, mag, cols)
	})
}

func FuzzF32ToF16(f *testing.F) {
	for _, b := range f32Specials()[:40] {
		f.Add(b, uint32(0x3f801000))
	}
	f.Fuzz(func(t *testing.T, b0, b1 uint32) {
		// Nine values: one vector of eight plus a tail element.
		src := make([]float32, 9)
		for i := range src {
			src[i] = math.Float32frombits(b0 + uint32(i)*b1)
		}
		a, g := bothPaths(func() []uint16 {
			dst := make([]uint16, len(src))
			F32ToF16(dst, src)
			return dst
		})
		for i, v := range src {
			want := float16.Fromfloat32(v).Bits()
			if a[i] != want || g[i] != want {
				t.Fatalf("%#08x: asm %#04x generic %#04x want %#04x", math.Float32bits(v), a[i], g[i], want)
			}
		}
		back, backG := bothPaths(func() []float32 {
			dst := make([]float32, len(a))
			F16ToF32(dst, a)
			return dst
		})
		for i, h := range a {
			want := math.Float32bits(float16.Frombits(h).Float32())
			if math.Float32bits(back[i]) != want || math.Float32bits(backG[i]) != want {
				t.Fatalf("half %#04x: asm %#08x generic %#08x want %#08x", h, math.Float32bits(back[i]), math.Float32bits(backG[i]), want)
			}
		}
	})
}

func FuzzMatMulBack(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint64(1), uint16(17))
	f.Add(uint8(9), uint8(40), uint64(2), uint16(200))
	f.Add(uint8(4), uint8(4), uint64(3), uint16(96))
	f.Fuzz(func(t *testing.T, nIn, rowsIn uint8, seed uint64, colsIn uint16) {
		n, rows, cols := 1+int(nIn%16), 1+int(rowsIn%64), 1+int(colsIn%400)
		r := rand.New(rand.NewPCG(seed, 37))
		dy, w, wh, x := randSlice(r, n*rows), randSlice(r, rows*cols), randHalf(r, rows*cols), randSlice(r, n*cols)
		want, mag := refBackIn(dy, w, n, rows, cols)
		a, g := bothPaths(func() []float32 {
			dx := make([]float32, n*cols)
			MatMulBackIn(dx, dy, w, n, rows, cols)
			return dx
		})
		checkClose(t, "BackIn asm", a, want, mag, rows)
		checkClose(t, "BackIn generic", g, want, mag, rows)
		want, mag = refBackIn(dy, halfs(wh), n, rows, cols)
		a, g = bothPaths(func() []float32 {
			dx := make([]float32, n*cols)
			MatMulBackInF16(dx, dy, wh, n, rows, cols)
			return dx
		})
		checkClose(t, "BackInF16 asm", a, want, mag, rows)
		checkClose(t, "BackInF16 generic", g, want, mag, rows)
		zero := make([]float32, rows*cols)
		want, mag = refBackW(zero, dy, x, n, rows, cols)
		a, g = bothPaths(func() []float32 {
			dw := make([]float32, rows*cols)
			MatMulBackW(dw, dy, x, n, rows, cols)
			return dw
		})
		checkClose(t, "BackW asm", a, want, mag, n)
		checkClose(t, "BackW generic", g, want, mag, n)
	})
}
