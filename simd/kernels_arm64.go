//go:build arm64 && !noasm

package simd

import "golang.org/x/sys/cpu"

// useAsm selects the NEON kernels (kernels_arm64.s); useF16C is the same
// flag here, since NEON's half → single conversion (FCVTL) is part of the
// base Advanced SIMD set. Tests flip them to run the portable models
// through the same entry points, as on amd64.
var (
	useAsm  = cpu.ARM64.HasASIMD
	useF16C = useAsm
)

//go:noescape
func dot1x4F16NEON(x *float32, w *uint16, out *float32, ldw, k int)

//go:noescape
func dotF16NEON(x *float32, w *uint16, k int) float32

//go:noescape
func dotNEON(x, y *float32, n int, xt, yt *float32) float32

//go:noescape
func dot1x4NEON(x, w, out *float32, ldw, k int, xt, wt *float32, acc int)

//go:noescape
func dot3x4NEON(x, w, out *float32, ldx, ldw, ldo, k int, xt, wt *float32, acc int)

//go:noescape
func f16ToF32NEON(dst *float32, src *uint16, n int)

//go:noescape
func f32ToF16NEON(dst *uint16, src *float32, n int)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dot returns Σ x[i]*y[i]; a tail of fewer than eight values goes to the
// kernel zero-padded, as the amd64 kernel masks it.
func dot(x, y []float32) float32 {
	n := len(x)
	if !useAsm || n == 0 {
		return dotGeneric(x, y)
	}
	y = y[:n]
	n8 := n &^ 7
	var xt, yt [8]float32
	var px, py, pxt, pyt *float32
	if n8 > 0 {
		px, py = &x[0], &y[0]
	}
	if n8 < n {
		copy(xt[:], x[n8:])
		copy(yt[:], y[n8:])
		pxt, pyt = &xt[0], &yt[0]
	}
	return dotNEON(px, py, n8, pxt, pyt)
}

// kern1x4 sets (acc: adds) out[j] = Σ_{t<k} x[t]*w[j*ldw+t] for j < 4.
func kern1x4(out, x, w []float32, ldw, k int, acc bool) {
	if !useAsm || k == 0 {
		kern1x4Generic(out, x, w, ldw, k, acc)
		return
	}
	_ = out[3]
	_ = x[k-1]
	_ = w[3*ldw+k-1]
	k8 := k &^ 7
	var xt [8]float32
	var wt [4 * 8]float32
	var pxt, pwt *float32
	if k8 < k {
		copy(xt[:], x[k8:k])
		for j := 0; j < 4; j++ {
			copy(wt[8*j:], w[j*ldw+k8:j*ldw+k])
		}
		pxt, pwt = &xt[0], &wt[0]
	}
	dot1x4NEON(&x[0], &w[0], &out[0], ldw, k8, pxt, pwt, b2i(acc))
}

// kern3x4 sets (acc: adds) out[i*ldo+j] = Σ_{t<k} x[i*ldx+t]*w[j*ldw+t]
// for i < 3, j < 4.
func kern3x4(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	if !useAsm || k == 0 {
		kern3x4Generic(out, ldo, x, ldx, w, ldw, k, acc)
		return
	}
	_ = out[2*ldo+3]
	_ = x[2*ldx+k-1]
	_ = w[3*ldw+k-1]
	k8 := k &^ 7
	var xt [3 * 8]float32
	var wt [4 * 8]float32
	var pxt, pwt *float32
	if k8 < k {
		for i := 0; i < 3; i++ {
			copy(xt[8*i:], x[i*ldx+k8:i*ldx+k])
		}
		for j := 0; j < 4; j++ {
			copy(wt[8*j:], w[j*ldw+k8:j*ldw+k])
		}
		pxt, pwt = &xt[0], &wt[0]
	}
	dot3x4NEON(&x[0], &w[0], &out[0], ldx, ldw, ldo, k8, pxt, pwt, b2i(acc))
}

// dot1x4F16Asm and dotF16Asm are this architecture's kernels behind the
// shared kern1x4F16 and dotF16 (kernels_f16asm.go).
func dot1x4F16Asm(x *float32, w *uint16, out *float32, ldw, k, _ int) {
	dot1x4F16NEON(x, w, out, ldw, k) // no software prefetch: the distance is unused
}

func dotF16Asm(x *float32, w *uint16, k int) float32 { return dotF16NEON(x, w, k) }

func f16ToF32(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if useF16C && n > 0 {
		_ = dst[len(src)-1]
		f16ToF32NEON(&dst[0], &src[0], n)
		f16ToF32Generic(dst[n:], src[n:])
		return
	}
	f16ToF32Generic(dst, src)
}

// The element-wise and backward kernels of kernels_nn_arm64.s. Each takes
// a multiple of eight values; the wrappers give the rest to the portable
// code, as the amd64 wrappers do, except that sum, like dot, hands its
// tail to the kernel zero-padded (sumAVX masks it into an accumulator).

//go:noescape
func sumNEON(x *float32, n int, xt *float32) float32

//go:noescape
func axpyNEON(a float32, x, y *float32, n int)

//go:noescape
func scaleNEON(a float32, x *float32, n int)

//go:noescape
func addNEON(dst, x, y *float32, n int)

//go:noescape
func mulNEON(dst, x, y *float32, n int)

//go:noescape
func expNEON(dst, x *float32, n int)

//go:noescape
func siluNEON(dst, x *float32, n int)

//go:noescape
func swigluNEON(dst, gate, up *float32, n int)

//go:noescape
func expSubNEON(x *float32, n int, m float32) float64

//go:noescape
func maxNEON(x *float32, n int) float32

//go:noescape
func gemm4x24NEON(a *float32, sai, sak int, b *float32, ldb int, c *float32, ldc, k, acc int)

func sum(x []float32) float32 {
	n := len(x)
	if !useAsm || n == 0 {
		return sumGeneric(x)
	}
	n8 := n &^ 7
	var xt [8]float32
	var px, pxt *float32
	if n8 > 0 {
		px = &x[0]
	}
	if n8 < n {
		copy(xt[:], x[n8:])
		pxt = &xt[0]
	}
	return sumNEON(px, n8, pxt)
}

func axpy(a float32, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_ = y[len(x)-1]
		axpyNEON(a, &x[0], &y[0], n)
		axpyGeneric(a, x[n:], y[n:len(x)])
		return
	}
	axpyGeneric(a, x, y)
}

func scale(a float32, x []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		scaleNEON(a, &x[0], n)
		scaleGeneric(a, x[n:])
		return
	}
	scaleGeneric(a, x)
}

func add(dst, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_, _ = dst[len(x)-1], y[len(x)-1]
		addNEON(&dst[0], &x[0], &y[0], n)
		addGeneric(dst[n:], x[n:], y[n:])
		return
	}
	addGeneric(dst, x, y)
}

func mul(dst, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_, _ = dst[len(x)-1], y[len(x)-1]
		mulNEON(&dst[0], &x[0], &y[0], n)
		mulGeneric(dst[n:], x[n:], y[n:])
		return
	}
	mulGeneric(dst, x, y)
}

// expVec sets dst[i] = e^x[i].
func expVec(dst, x []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_ = dst[len(x)-1]
		expNEON(&dst[0], &x[0], n)
		expGeneric(dst[n:], x[n:])
		return
	}
	expGeneric(dst, x)
}

// siluVec sets dst[i] = silu(x[i]).
func siluVec(dst, x []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_ = dst[len(x)-1]
		siluNEON(&dst[0], &x[0], n)
		siluGeneric(dst[n:], x[n:])
		return
	}
	siluGeneric(dst, x)
}

// swigluVec sets dst[i] = silu(g[i])*u[i].
func swigluVec(dst, g, u []float32) {
	n := len(g) &^ 7
	if useAsm && n > 0 {
		_, _ = dst[len(g)-1], u[len(g)-1]
		swigluNEON(&dst[0], &g[0], &u[0], n)
		swigluGeneric(dst[n:], g[n:], u[n:])
		return
	}
	swigluGeneric(dst, g, u)
}

// expSub sets x[i] = e^(x[i]-m) and returns their float64 sum.
func expSub(x []float32, m float32) float64 {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		return expSubNEON(&x[0], n, m) + expSubGeneric(x[n:], m)
	}
	return expSubGeneric(x, m)
}

// maxOf returns the largest element of a non-empty x.
func maxOf(x []float32) float32 {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		m := maxNEON(&x[0], n)
		if n < len(x) {
			m = max(m, maxGeneric(x[n:]))
		}
		return m
	}
	return maxGeneric(x)
}

// gemm4x24 sets (acc: adds) c[i*ldc+j] = Σ_{t<k} a[i*sai+t*sak]*b[t*ldb+j]
// for i < 4, j < 24.
func gemm4x24(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	if useAsm && k > 0 {
		_ = c[3*ldc+23]
		_ = a[3*sai+(k-1)*sak]
		_ = b[(k-1)*ldb+23]
		gemm4x24NEON(&a[0], sai, sak, &b[0], ldb, &c[0], ldc, k, b2i(acc))
		return
	}
	gemm4x24Generic(c, ldc, a, sai, sak, b, ldb, k, acc)
}

func f32ToF16(dst []uint16, src []float32) {
	n := len(src) &^ 7
	if useF16C && n > 0 {
		_ = dst[len(src)-1]
		f32ToF16NEON(&dst[0], &src[0], n)
		f32ToF16Generic(dst[n:], src[n:])
		return
	}
	f32ToF16Generic(dst, src)
}

// argmax and the B packing of the backward GEMM (a copy) stay portable on
// arm64.
func argmax(x []float32) int { return argmaxGeneric(x) }

func packB4(dst, src []float32, ldb, pl, rows int) bool             { return false }
func packB4F16(dst []float32, src []uint16, ldb, pl, rows int) bool { return false }
