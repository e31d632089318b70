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
	dot1x4F16Asm(&x[0], &w[0], &out[0], ldw, k8, prefetchAhead(2*(len(w)-3*ldw-k)))
	if k8 < k {
		for j := 0; j < 4; j++ {
			out[j] += dotF16Generic(x[k8:k], w[j*ldw+k8:j*ldw+k])
		}
	}
}

// prefetchAhead is the software prefetch distance of a streaming kernel
// (dot1x4AVX, dot1x4F16AVX, dot8F16AVX512) that has avail bytes of its
// slice after the rows it reads: 8 KiB, but never past the slice's end.
// A prefetch of an address outside the pages the process has touched
// costs a page walk every time (a nested one in a VM) and fetches nothing:
// on the 2-vCPU AMD EPYC test VM, prefetching 8 KiB past a 12 KiB panel
// made dot1x4AVX 68× slower, and the three-row GEMM's n%3 tail rows, run
// on it, took more than half of each prefill product. The lines an iteration prefetches may
// reach up to 64 bytes beyond its stream.
func prefetchAhead(avail int) int { return max(0, min(8192, avail-64)) }

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
