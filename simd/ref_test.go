package simd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// Float64 reference implementations and test helpers.

// forPaths runs f on the assembly path (when the CPU has it, with and
// without F16C) and on the portable path, through the same exported entry
// points.
func forPaths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	asm, f16c := useAsm, useF16C
	defer func() { useAsm, useF16C = asm, f16c }()
	if asm {
		t.Run("asm", f)
		if f16c {
			// AVX2+FMA without F16C: half precision on the portable path.
			useF16C = false
			t.Run("asm-nof16c", f)
		}
	}
	useAsm, useF16C = false, false
	t.Run("generic", f)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func randHalf(r *rand.Rand, n int) []uint16 {
	s := make([]uint16, n)
	for i := range s {
		s[i] = float16.Fromfloat32(float32(r.NormFloat64())).Bits()
	}
	return s
}

func halfs(h []uint16) []float32 {
	f := make([]float32, len(h))
	for i, v := range h {
		f[i] = float16.Frombits(v).Float32()
	}
	return f
}

// sentinel is written past the end of output buffers to catch overruns.
const sentinel = float32(-12345.5)

func withGuard(n int) []float32 {
	s := make([]float32, n+9)
	for i := n; i < len(s); i++ {
		s[i] = sentinel
	}
	return s
}

func checkGuard(t *testing.T, s []float32, n int) {
	t.Helper()
	for i := n; i < len(s); i++ {
		if s[i] != sentinel {
			t.Fatalf("write past the end: element %d (n=%d) = %v", i, n, s[i])
		}
	}
}

// refDot returns Σ x*y and Σ |x*y| in float64.
func refDot(x, y []float32) (float64, float64) {
	var s, a float64
	for i := range x {
		p := float64(x[i]) * float64(y[i])
		s += p
		a += math.Abs(p)
	}
	return s, a
}

// close reports whether got matches want up to float32 rounding of a sum of
// n terms whose magnitudes add up to mag.
func closeTo(got float32, want, mag float64, n int) bool {
	tol := 1e-5*math.Sqrt(float64(n)+1)*mag + 1e-30
	return math.Abs(float64(got)-want) <= tol
}

// refMatMul returns out[i*rows+r] = Σ_c x[i*cols+c]*w[r*cols+c] and the
// magnitudes.
func refMatMul(x, w []float32, n, rows, cols int) ([]float64, []float64) {
	out := make([]float64, n*rows)
	mag := make([]float64, n*rows)
	for i := 0; i < n; i++ {
		for r := 0; r < rows; r++ {
			out[i*rows+r], mag[i*rows+r] = refDot(x[i*cols:(i+1)*cols], w[r*cols:(r+1)*cols])
		}
	}
	return out, mag
}

func checkClose(t *testing.T, what string, got []float32, want, mag []float64, terms int) {
	t.Helper()
	for i := range want {
		if !closeTo(got[i], want[i], mag[i], terms) {
			t.Fatalf("%s: element %d = %v, want %v (mag %g, terms %d)", what, i, got[i], want[i], mag[i], terms)
		}
	}
}

// refBackIn returns dx = dy·w (n×cols).
func refBackIn(dy, w []float32, n, rows, cols int) ([]float64, []float64) {
	out := make([]float64, n*cols)
	mag := make([]float64, n*cols)
	for i := 0; i < n; i++ {
		for c := 0; c < cols; c++ {
			for r := 0; r < rows; r++ {
				p := float64(dy[i*rows+r]) * float64(w[r*cols+c])
				out[i*cols+c] += p
				mag[i*cols+c] += math.Abs(p)
			}
		}
	}
	return out, mag
}

// refBackW returns dw0 + dyᵀ·x (rows×cols).
func refBackW(dw0, dy, x []float32, n, rows, cols int) ([]float64, []float64) {
	out := make([]float64, rows*cols)
	mag := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[r*cols+c] = float64(dw0[r*cols+c])
			mag[r*cols+c] = math.Abs(float64(dw0[r*cols+c]))
			for i := 0; i < n; i++ {
				p := float64(dy[i*rows+r]) * float64(x[i*cols+c])
				out[r*cols+c] += p
				mag[r*cols+c] += math.Abs(p)
			}
		}
	}
	return out, mag
}
