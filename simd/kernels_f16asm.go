//go:build (amd64 || arm64) && !noasm

package simd

// The f16-weight products shared by the AVX2 and NEON builds: the
// architecture's kernel over whole groups of eight, the portable code for
// the tail (or for every length when the CPU lacks the instructions).

// kern1x4F16 sets out[j] = Σ_{t<k} x[t]*half(w[j*ldw+t]) for j < 4.
func kern1x4F16(out, x []float32, w []uint16, ldw, k int) {
	k8 := k &^ 7
	if !useF16C || k8 == 0 {
		kern1x4F16Generic(out, x, w, ldw, k)
		return
	}
	_ = out[3]
	_ = x[k-1]
	_ = w[3*ldw+k-1]
	dot1x4F16Asm(&x[0], &w[0], &out[0], ldw, k8)
	if k8 < k {
		for j := 0; j < 4; j++ {
			out[j] += dotF16Generic(x[k8:k], w[j*ldw+k8:j*ldw+k])
		}
	}
}

// dotF16 returns Σ x[t]*half(w[t]) over len(x).
func dotF16(x []float32, w []uint16) float32 {
	k := len(x)
	k8 := k &^ 7
	if !useF16C || k8 == 0 {
		return dotF16Generic(x, w)
	}
	_ = w[k-1]
	s := dotF16Asm(&x[0], &w[0], k8)
	if k8 < k {
		s += dotF16Generic(x[k8:], w[k8:k])
	}
	return s
}
