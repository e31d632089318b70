//go:build arm64 && !noasm

package quant

// The K-quant products on NEON: kquant_arm64.s computes the exact integer
// sums of each super-block's sub-blocks, a chunk of super-blocks per call;
// the scales and the float32 part are the portable code's (termK45,
// termQ6_K), so the bits are the portable kernels'.

// The kernels read nb > 0 super-blocks of w and of x and write 8 (Q6_K: 16)
// sums per super-block to s.

//go:noescape
func q4KSumsSDOT(w, x *byte, nb int, s *int32)

//go:noescape
func q4KSumsNEON(w, x *byte, nb int, s *int32)

//go:noescape
func q5KSumsSDOT(w, x *byte, nb int, s *int32)

//go:noescape
func q5KSumsNEON(w, x *byte, nb int, s *int32)

//go:noescape
func q6KSumsSDOT(w, x *byte, nb int, s *int32)

//go:noescape
func q6KSumsNEON(w, x *byte, nb int, s *int32)

// kChunk is how many super-blocks' sums one kernel call leaves on the stack.
const kChunk = 16

func dotQ4_K(w, x []byte, nb int) float32 { return dotK45NEON(w, x, nb, false) }

func dotQ5_K(w, x []byte, nb int) float32 { return dotK45NEON(w, x, nb, true) }

func dotK45NEON(w, x []byte, nb int, q5 bool) float32 {
	if !useAsm {
		return dotK45(w, x, nb, q5)
	}
	bb := blockBytesK45(q5)
	_, _ = w[nb*bb-1], x[nb*Q8_KBlockBytes-1]
	var s [kChunk][8]int32
	var sum float32
	for i0 := 0; i0 < nb; i0 += kChunk {
		n := min(kChunk, nb-i0)
		// Direct calls: through a func value s would escape.
		pw, px, ps := &w[i0*bb], &x[i0*Q8_KBlockBytes], &s[0][0]
		switch {
		case q5 && useSDOT:
			q5KSumsSDOT(pw, px, n, ps)
		case q5:
			q5KSumsNEON(pw, px, n, ps)
		case useSDOT:
			q4KSumsSDOT(pw, px, n, ps)
		default:
			q4KSumsNEON(pw, px, n, ps)
		}
		for i := range n {
			b := i0 + i
			sum += termK45(w[b*bb:(b+1)*bb], (*[Q8_KBlockBytes]byte)(x[b*Q8_KBlockBytes:]), &s[i])
		}
	}
	return sum
}

func dotQ6_K(w, x []byte, nb int) float32 {
	if !useAsm {
		return dotQ6_KGeneric(w, x, nb)
	}
	_, _ = w[nb*Q6_KBlockBytes-1], x[nb*Q8_KBlockBytes-1]
	var s [kChunk][16]int32
	var sum float32
	for i0 := 0; i0 < nb; i0 += kChunk {
		n := min(kChunk, nb-i0)
		pw, px, ps := &w[i0*Q6_KBlockBytes], &x[i0*Q8_KBlockBytes], &s[0][0]
		if useSDOT {
			q6KSumsSDOT(pw, px, n, ps)
		} else {
			q6KSumsNEON(pw, px, n, ps)
		}
		for i := range n {
			b := i0 + i
			sum += termQ6_K((*[Q6_KBlockBytes]byte)(w[b*Q6_KBlockBytes:]), (*[Q8_KBlockBytes]byte)(x[b*Q8_KBlockBytes:]), &s[i])
		}
	}
	return sum
}

// rowsQ4_K, rowsQ5_K and rowsQ6_K set out[r] to the dot product of row r of
// w (rows rb bytes apart) with the Q8_K activations xq, for nb > 0
// super-blocks.
func rowsQ4_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ4_K, out, w, rb, xq, nb)
}

func rowsQ5_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ5_K, out, w, rb, xq, nb)
}

func rowsQ6_K(out []float32, w []byte, rb int, xq []byte, nb int) {
	rowsKGeneric(dotQ6_K, out, w, rb, xq, nb)
}
