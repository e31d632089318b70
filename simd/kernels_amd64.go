//go:build amd64 && !noasm

package simd

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA kernels; useF16C additionally selects the
// F16C conversion kernels. Both are fixed at init from CPUID (tests flip
// them to run the portable path through the same entry points).
var (
	useAsm  = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useF16C = useAsm && cpu.X86.HasF16C
)

// Assembly kernels (kernels_amd64.s). Pointers must be valid for the
// lengths given; callers check bounds.

//go:noescape
func dotAVX(x, y *float32, n int) float32

//go:noescape
func sumAVX(x *float32, n int) float32

//go:noescape
func axpyAVX(a float32, x, y *float32, n int)

//go:noescape
func scaleAVX(a float32, x *float32, n int)

//go:noescape
func addAVX(dst, x, y *float32, n int)

//go:noescape
func mulAVX(dst, x, y *float32, n int)

//go:noescape
func dot1x4AVX(x, w, out *float32, ldw, k, acc, pf int)

//go:noescape
func dot3x4AVX(x, w, out *float32, ldx, ldw, ldo, k, acc int)

//go:noescape
func dot1x4F16AVX(x *float32, w *uint16, out *float32, ldw, k, pf int)

//go:noescape
func dotF16AVX(x *float32, w *uint16, k int) float32

//go:noescape
func gemm4x24AVX(a *float32, sai, sak int, b *float32, ldb int, c *float32, ldc, k, acc int)

//go:noescape
func packB4AVX(dst, src *float32, ldb, pl, rows int)

//go:noescape
func packB4F16AVX(dst *float32, src *uint16, ldb, pl, rows int)

//go:noescape
func f16ToF32AVX(dst *float32, src *uint16, n int)

//go:noescape
func f32ToF16AVX(dst *uint16, src *float32, n int)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func dot(x, y []float32) float32 {
	if useAsm && len(x) > 0 {
		return dotAVX(&x[0], &y[0], len(x))
	}
	return dotGeneric(x, y)
}

func sum(x []float32) float32 {
	if useAsm && len(x) > 0 {
		return sumAVX(&x[0], len(x))
	}
	return sumGeneric(x)
}

func axpy(a float32, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		axpyAVX(a, &x[0], &y[0], n)
		axpyGeneric(a, x[n:], y[n:len(x)])
		return
	}
	axpyGeneric(a, x, y)
}

func scale(a float32, x []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		scaleAVX(a, &x[0], n)
		scaleGeneric(a, x[n:])
		return
	}
	scaleGeneric(a, x)
}

func add(dst, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		addAVX(&dst[0], &x[0], &y[0], n)
		addGeneric(dst[n:], x[n:], y[n:])
		return
	}
	addGeneric(dst, x, y)
}

func mul(dst, x, y []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		mulAVX(&dst[0], &x[0], &y[0], n)
		mulGeneric(dst[n:], x[n:], y[n:])
		return
	}
	mulGeneric(dst, x, y)
}

// kern1x4 sets (acc: adds) out[j] = Σ_{t<k} x[t]*w[j*ldw+t] for j < 4.
func kern1x4(out, x, w []float32, ldw, k int, acc bool) {
	if useAsm {
		_ = out[3]
		_ = x[k-1]
		_ = w[3*ldw+k-1]
		dot1x4AVX(&x[0], &w[0], &out[0], ldw, k, b2i(acc), prefetchAhead(4*(len(w)-3*ldw-k)))
		return
	}
	kern1x4Generic(out, x, w, ldw, k, acc)
}

// kern3x4 sets (acc: adds) out[i*ldo+j] = Σ_{t<k} x[i*ldx+t]*w[j*ldw+t]
// for i < 3, j < 4.
func kern3x4(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, k int, acc bool) {
	if useAsm {
		_ = out[2*ldo+3]
		_ = x[2*ldx+k-1]
		_ = w[3*ldw+k-1]
		dot3x4AVX(&x[0], &w[0], &out[0], ldx, ldw, ldo, k, b2i(acc))
		return
	}
	kern3x4Generic(out, ldo, x, ldx, w, ldw, k, acc)
}

// dot1x4F16Asm and dotF16Asm are this architecture's kernels behind the
// shared kern1x4F16 and dotF16 (kernels_f16asm.go).
func dot1x4F16Asm(x *float32, w *uint16, out *float32, ldw, k, pf int) {
	dot1x4F16AVX(x, w, out, ldw, k, pf)
}

func dotF16Asm(x *float32, w *uint16, k int) float32 { return dotF16AVX(x, w, k) }

// gemm4x24 sets (acc: adds) c[i*ldc+j] = Σ_{t<k} a[i*sai+t*sak]*b[t*ldb+j]
// for i < 4, j < 24.
func gemm4x24(c []float32, ldc int, a []float32, sai, sak int, b []float32, ldb, k int, acc bool) {
	if useAsm && k > 0 {
		_ = c[3*ldc+23]
		_ = a[3*sai+(k-1)*sak]
		_ = b[(k-1)*ldb+23]
		gemm4x24AVX(&a[0], sai, sak, &b[0], ldb, &c[0], ldc, k, b2i(acc))
		return
	}
	gemm4x24Generic(c, ldc, a, sai, sak, b, ldb, k, acc)
}

// packB4 copies rows×96 values of src (row stride ldb) into four panels
// of dst, pl floats apart, each rows×24: panel q, row t gets
// src[t*ldb+24q : t*ldb+24q+24]. It reports false (doing nothing) when
// there is no assembly for it, and the caller packs in Go.
func packB4(dst, src []float32, ldb, pl, rows int) bool {
	if !useAsm || rows == 0 {
		return false
	}
	_ = dst[3*pl+rows*24-1]
	_ = src[(rows-1)*ldb+95]
	packB4AVX(&dst[0], &src[0], ldb, pl, rows)
	return true
}

// packB4F16 is packB4 for half-precision src.
func packB4F16(dst []float32, src []uint16, ldb, pl, rows int) bool {
	if !useF16C || rows == 0 {
		return false
	}
	_ = dst[3*pl+rows*24-1]
	_ = src[(rows-1)*ldb+95]
	packB4F16AVX(&dst[0], &src[0], ldb, pl, rows)
	return true
}

func f16ToF32(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if useF16C && n > 0 {
		_ = dst[len(src)-1]
		f16ToF32AVX(&dst[0], &src[0], n)
		f16ToF32Generic(dst[n:], src[n:])
		return
	}
	f16ToF32Generic(dst, src)
}

func f32ToF16(dst []uint16, src []float32) {
	n := len(src) &^ 7
	if useF16C && n > 0 {
		_ = dst[len(src)-1]
		f32ToF16AVX(&dst[0], &src[0], n)
		f32ToF16Generic(dst[n:], src[n:])
		return
	}
	f32ToF16Generic(dst, src)
}

//go:noescape
func expAVX(dst, x *float32, n int)

//go:noescape
func siluAVX(dst, x *float32, n int)

//go:noescape
func swigluAVX(dst, gate, up *float32, n int)

//go:noescape
func expSubAVX(x *float32, n int, m float32) float64

//go:noescape
func maxAVX(x *float32, n int) float32

// expVec sets dst[i] = e^x[i].
func expVec(dst, x []float32) {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		_ = dst[len(x)-1]
		expAVX(&dst[0], &x[0], n)
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
		siluAVX(&dst[0], &x[0], n)
		siluGeneric(dst[n:], x[n:])
		return
	}
	siluGeneric(dst, x)
}

// swigluVec sets dst[i] = silu(g[i])*u[i].
func swigluVec(dst, g, u []float32) {
	n := len(g) &^ 7
	if useAsm && n > 0 {
		_ = dst[len(g)-1]
		_ = u[len(g)-1]
		swigluAVX(&dst[0], &g[0], &u[0], n)
		swigluGeneric(dst[n:], g[n:], u[n:])
		return
	}
	swigluGeneric(dst, g, u)
}

// expSub sets x[i] = e^(x[i]-m) and returns their float64 sum.
func expSub(x []float32, m float32) float64 {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		return expSubAVX(&x[0], n, m) + expSubGeneric(x[n:], m)
	}
	return expSubGeneric(x, m)
}

// argmax is the portable loop: memory-bound, and its NaN rule is simpler
// to keep than VMAXPS's.
func argmax(x []float32) int { return argmaxGeneric(x) }

// maxOf returns the largest element of a non-empty x.
func maxOf(x []float32) float32 {
	n := len(x) &^ 7
	if useAsm && n > 0 {
		m := maxAVX(&x[0], n)
		if n < len(x) {
			m = max(m, maxGeneric(x[n:]))
		}
		return m
	}
	return maxGeneric(x)
}
