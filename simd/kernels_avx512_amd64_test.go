//go:build amd64 && !noasm

package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMirrorWideMatMul holds the AVX-512 forward product to the AVX2 one
// and to the portable model, bit for bit, at shapes that reach every part
// of its driver: whole 6-row tiles, padded tails of 3 rows, the last n%3
// rows (kern1x4's accumulators), w rows beyond the last group of eight,
// tiled columns (accumulating into out) and a last tile of cols%8 != 0
// (the AVX2 kernels).
func TestMirrorWideMatMul(t *testing.T) {
	needAsm(t)
	if !hasAVX512VL {
		t.Skip("no AVX-512F+VL on this machine")
	}
	r := rand.New(rand.NewPCG(47, 48))
	for _, sz := range [][3]int{{2, 8, 8}, {6, 8, 8}, {12, 16, 64}, {9, 21, 64}, {7, 24, 2048}, {13, 40, 1100}, {64, 19, 768}, {130, 64, 96}, {25, 36, 1036}} {
		n, rows, cols := sz[0], sz[1], sz[2]
		x, w := mirrorSlice(r, n*cols), mirrorSlice(r, rows*cols)
		wh := randHalf(r, rows*cols)
		for _, half := range []bool{false, true} {
			name := fmt.Sprintf("%v half=%v", sz, half)
			run := func(out []float32) {
				if half {
					MatMulF16(out, x, wh, n, rows, cols)
				} else {
					MatMul(out, x, w, n, rows, cols)
				}
			}
			wide, avx2, gen := make([]float32, n*rows), make([]float32, n*rows), make([]float32, n*rows)
			run(wide)
			hasAVX512VL = false
			run(avx2)
			hasAVX512VL = true
			generic(func() { run(gen) })
			sameBits32(t, name+" wide vs AVX2", wide, avx2)
			sameBits32(t, name+" wide vs portable", wide, gen)
		}
	}
}

// TestMirrorWideMatVecF16 holds the AVX-512 half-precision matrix-vector
// kernel (eight rows) to the AVX2 one and to the portable model: a last
// unpaired eight of columns, a tail of cols%8, rows beyond the last eight.
func TestMirrorWideMatVecF16(t *testing.T) {
	needAsm(t)
	if !hasAVX512VL {
		t.Skip("no AVX-512F+VL on this machine")
	}
	r := rand.New(rand.NewPCG(49, 50))
	for _, sz := range [][2]int{{8, 8}, {16, 24}, {17, 100}, {40, 776}, {9, 1031}, {64, 2048}} {
		rows, cols := sz[0], sz[1]
		x, wh := mirrorSlice(r, cols), randHalf(r, rows*cols)
		wide, avx2, gen := make([]float32, rows), make([]float32, rows), make([]float32, rows)
		MatVecF16(wide, wh, x, rows, cols)
		hasAVX512VL = false
		MatVecF16(avx2, wh, x, rows, cols)
		hasAVX512VL = true
		generic(func() { MatVecF16(gen, wh, x, rows, cols) })
		name := fmt.Sprintf("%v", sz)
		sameBits32(t, name+" wide vs AVX2", wide, avx2)
		sameBits32(t, name+" wide vs portable", wide, gen)
	}
}

// TestMirrorWideBackward holds the backward products on the AVX-512 8×48
// kernel (48-column panels) to the AVX2 ones and to the portable model:
// rows of C beyond the last eight, columns beyond the last 48, a shared
// dimension over several tiles (accumulating), f16 weights.
func TestMirrorWideBackward(t *testing.T) {
	needAsm(t)
	if !hasAVX512VL {
		t.Skip("no AVX-512F+VL on this machine")
	}
	r := rand.New(rand.NewPCG(51, 52))
	for _, sz := range [][3]int{{8, 48, 8}, {13, 100, 50}, {64, 200, 768}, {21, 450, 96}, {9, 47, 9}} {
		n, rows, cols := sz[0], sz[1], sz[2]
		x, w, dy := mirrorSlice(r, n*cols), mirrorSlice(r, rows*cols), mirrorSlice(r, n*rows)
		wh := randHalf(r, rows*cols)
		name := fmt.Sprintf("%v", sz)
		check := func(what string, size int, f func(out []float32)) {
			base := mirrorSlice(r, size)
			wide, avx2, gen := append([]float32(nil), base...), append([]float32(nil), base...), append([]float32(nil), base...)
			f(wide)
			hasAVX512VL = false
			f(avx2)
			hasAVX512VL = true
			generic(func() { f(gen) })
			sameBits32(t, name+" "+what+" wide vs AVX2", wide, avx2)
			sameBits32(t, name+" "+what+" wide vs portable", wide, gen)
		}
		check("BackIn", n*cols, func(dx []float32) { MatMulBackIn(dx, dy, w, n, rows, cols) })
		check("BackInF16", n*cols, func(dx []float32) { MatMulBackInF16(dx, dy, wh, n, rows, cols) })
		check("BackW", rows*cols, func(dw []float32) { MatMulBackW(dw, dy, x, n, rows, cols) })
	}
}
