package simd

import "fmt"

// Vector operations. Lengths must match exactly; a mismatch panics.

// checkLen panics unless a == b; checkLen3 unless a == b == c. They take no
// variadic arguments so that the check allocates nothing.
func checkLen(op string, a, b int) {
	if a != b {
		panicLen(op, a, b)
	}
}

func checkLen3(op string, a, b, c int) {
	if a != b {
		panicLen(op, a, b)
	}
	if a != c {
		panicLen(op, a, c)
	}
}

//go:noinline
func panicLen(op string, a, b int) {
	panic(fmt.Sprintf("simd.%s: length mismatch: %d != %d", op, a, b))
}

// Dot returns Σ x[i]*y[i]. len(x) must equal len(y).
func Dot(x, y []float32) float32 {
	checkLen("Dot", len(x), len(y))
	return dot(x, y)
}

// Axpy computes y += a*x. len(x) must equal len(y); x and y must not
// overlap unless they are the same slice.
func Axpy(a float32, x, y []float32) {
	checkLen("Axpy", len(x), len(y))
	axpy(a, x, y)
}

// Scale computes x *= a.
func Scale(a float32, x []float32) {
	scale(a, x)
}

// Add computes dst = x + y elementwise. All three lengths must match; dst
// may be x or y (the same slice), but must not partially overlap them.
func Add(dst, x, y []float32) {
	checkLen3("Add", len(x), len(y), len(dst))
	add(dst, x, y)
}

// Mul computes dst = x * y elementwise. All three lengths must match; dst
// may be x or y (the same slice), but must not partially overlap them.
func Mul(dst, x, y []float32) {
	checkLen3("Mul", len(x), len(y), len(dst))
	mul(dst, x, y)
}

// Sum returns Σ x[i].
func Sum(x []float32) float32 {
	return sum(x)
}
