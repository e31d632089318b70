//go:build amd64 && !noasm

package simd

import "golang.org/x/sys/cpu"

// hasAVX512VL selects the 6×8 forward-product kernel of
// kernels_avx512_amd64.s on top of the AVX2 kernels (it needs useAsm, and
// useF16C for f16 weights, as well). Its bits are the AVX2 kernels', so
// the mirror tests hold it to the same portable models.
var hasAVX512VL = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

//go:noescape
func dot6x8AVX512(x, w, out *float32, ldx, ldo, k, acc int)

//go:noescape
func dot1x8SplitAVX512(x, w, out *float32, k, acc int)

//go:noescape
func dot8F16AVX512(x *float32, w *uint16, out *float32, ldw, k, pf int)

//go:noescape
func gemm8x48AVX512(a *float32, ga int, b *float32, c *float32, ldc, k, acc int)

//go:noescape
func packW8F32AVX512(dst, src *float32, ldw, k int)

//go:noescape
func packW8F16AVX512(dst *float32, src *uint16, ldw, k int)

// wideRows runs the AVX-512 kernel over the groups of eight w rows of
// [r0, r1) and the x rows [i0, i1) for the column tile [k0, k0+kl), and
// returns the first w row it did not compute (r0 when the kernel does not
// apply). buf holds at least wideScratch(kl) floats.
func (t *matMulTask) wideRows(r0, r1, i0, i1, k0, kl int, acc bool, buf []float32) int {
	if !t.wide(kl) || r1-r0 < wideW {
		return r0
	}
	cols, rows := t.cols, t.rows
	panel := buf[:wideW*kl]
	// The last x rows, fewer than six, run from a zero-padded copy into
	// a scratch tile of outputs, except the last n%3 rows of the product:
	// the AVX2 driver gives those to kern1x4, whose accumulators differ,
	// so they get its order here too (dot1x8Split).
	m := (i1 - i0) % wideX
	iTail := i1 - m
	m1 := m % 3
	pad := buf[wideW*kl : (wideW+wideX)*kl]
	tile := buf[(wideW+wideX)*kl : (wideW+wideX)*kl+wideX*wideW]
	if m > m1 {
		clear(pad)
		for i := range m - m1 {
			copy(pad[i*kl:(i+1)*kl], t.x[(iTail+i)*cols+k0:][:kl])
		}
	}
	r := r0
	for ; r+wideW <= r1; r += wideW {
		if t.half {
			src := t.wh[r*cols+k0:]
			_ = src[(wideW-1)*cols+kl-1]
			packW8F16AVX512(&panel[0], &src[0], cols, kl)
		} else {
			src := t.w[r*cols+k0:]
			_ = src[(wideW-1)*cols+kl-1]
			packW8F32AVX512(&panel[0], &src[0], cols, kl)
		}
		for i := i0; i < iTail; i += wideX {
			o := t.out[i*rows+r:]
			_ = o[(wideX-1)*rows+wideW-1]
			xs := t.x[i*cols+k0:]
			_ = xs[(wideX-1)*cols+kl-1]
			dot6x8AVX512(&xs[0], &panel[0], &o[0], cols, rows, kl, b2i(acc))
		}
		if m > m1 {
			dot6x8AVX512(&pad[0], &panel[0], &tile[0], kl, wideW, kl, 0)
			for i := range m - m1 {
				o := t.out[(iTail+i)*rows+r:][:wideW]
				for j, v := range tile[i*wideW : (i+1)*wideW] {
					if acc {
						v += o[j]
					}
					o[j] = v
				}
			}
		}
		for i := i1 - m1; i < i1; i++ {
			o := t.out[i*rows+r:][:wideW]
			xs := t.x[i*cols+k0:][:kl]
			dot1x8SplitAVX512(&xs[0], &panel[0], &o[0], kl, b2i(acc))
		}
	}
	return r
}

// wide says whether the AVX-512 kernel runs a column tile of kl.
func (t *matMulTask) wide(kl int) bool {
	return useAsm && hasAVX512VL && (useF16C || !t.half) && kl > 0 && kl%8 == 0
}

// wideScratch is the floats wideRows needs for a column tile of kl.
func wideScratch(kl int) int { return (wideW+wideX)*kl + wideX*wideW }

// matVec8F16 computes rows r..r+7 of a half-precision MatVec with the
// AVX-512 kernel, in kern1x4F16's order (its tail included), and reports
// false, doing nothing, where the kernel does not apply.
func (t *matVecTask) matVec8F16(r int) bool {
	k := t.cols
	k8 := k &^ 7
	if !useF16C || !hasAVX512VL || k8 == 0 || r+8 > t.rows {
		return false
	}
	out := t.out[r : r+8]
	w := t.wh[r*k:]
	_ = w[7*k+k-1]
	dot8F16AVX512(&t.x[0], &w[0], &out[0], k, k8, prefetchAhead(2*(len(w)-8*k)))
	if k8 < k {
		for j := range out {
			out[j] += dotF16Generic(t.x[k8:k], w[j*k+k8:j*k+k])
		}
	}
	return true
}

// gemmWide says whether gemmNN runs the AVX-512 8×48 kernel (on panels
// of wideNR columns).
func gemmWide() bool { return useAsm && hasAVX512VL }

// gemm8x48 sets (acc: adds) c[i*ldc+j] = Σ_{t<k} A(i,t)*b[t*48+j] for
// i < 8, j < 48, A being two packed groups of four rows ga floats apart.
func gemm8x48(c []float32, ldc int, a []float32, ga int, b []float32, k int, acc bool) {
	_ = c[7*ldc+47]
	_ = a[ga+4*k-1]
	_ = b[48*k-1]
	gemm8x48AVX512(&a[0], ga, &b[0], &c[0], ldc, k, b2i(acc))
}
