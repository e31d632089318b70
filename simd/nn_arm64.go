//go:build arm64 && !noasm

package simd

// The NEON kernels of nn_arm64.s behind RMSNorm, RoPE and Attention's
// loops, selected by useAsm like the others; each gives its
// model's bits (nn_kernels.go), and the few values a kernel's block leaves
// over go to the model.

// haveNNAsm tells the mirror tests that these kernels exist.
const haveNNAsm = true

//go:noescape
func sumSquaresNEON(x *float32, n int) float64

//go:noescape
func normScaleNEON(out, x, w *float32, s float32, n int)

//go:noescape
func ropePairsNEON(v, cos, sin *float32, n, back int)

//go:noescape
func ropeHalvesNEON(a, b, cos, sin *float32, n, back int)

//go:noescape
func headScoresNEON(sc, q, k *float32, stride, hd, n int, scale float32)

//go:noescape
func headMixNEON(o, v, sc *float32, stride, hd, n int)

//go:noescape
func headDotsNEON(sc, q, k *float32, stride, hd, n int, scale float32)

//go:noescape
func headAxpysNEON(o, v, sc *float32, stride, hd, n int)

func sumSquares(x []float32) float64 {
	if useAsm && len(x) > 0 {
		return sumSquaresNEON(&x[0], len(x))
	}
	return sumSquaresGeneric(x)
}

func normScale(out, x, w []float32, s float32) {
	n := len(x) &^ 3
	if useAsm && n > 0 {
		_, _ = out[len(x)-1], w[len(x)-1]
		normScaleNEON(&out[0], &x[0], &w[0], s, n)
		normScaleGeneric(out[n:], x[n:], w[n:], s)
		return
	}
	normScaleGeneric(out, x, w, s)
}

func ropePairs(v, cos, sin []float32, back bool) {
	n := len(cos) &^ 3
	if useAsm && n > 0 {
		_, _ = v[2*len(cos)-1], sin[len(cos)-1]
		ropePairsNEON(&v[0], &cos[0], &sin[0], n, b2i(back))
		ropePairsGeneric(v[2*n:], cos[n:], sin[n:], back)
		return
	}
	ropePairsGeneric(v, cos, sin, back)
}

func ropeHalves(a, b, cos, sin []float32, back bool) {
	n := len(cos) &^ 3
	if useAsm && n > 0 {
		_, _, _ = a[len(cos)-1], b[len(cos)-1], sin[len(cos)-1]
		ropeHalvesNEON(&a[0], &b[0], &cos[0], &sin[0], n, b2i(back))
		ropeHalvesGeneric(a[n:], b[n:], cos[n:], sin[n:], back)
		return
	}
	ropeHalvesGeneric(a, b, cos, sin, back)
}

// headScores runs the kernel on whole quads of positions when the head's
// length is a multiple of four.
func headScores(sc, q, k []float32, stride int, scale float32) {
	hd, n := len(q), len(sc)&^3
	if useAsm && hd > 0 && hd%4 == 0 && n > 0 {
		_ = k[(n-1)*stride+hd-1]
		headScoresNEON(&sc[0], &q[0], &k[0], stride, hd, n, scale)
		if n < len(sc) {
			headScoresGeneric(sc[n:], q, k[n*stride:], stride, scale)
		}
		return
	}
	headScoresGeneric(sc, q, k, stride, scale)
}

func headMix(o, v, sc []float32, stride int) {
	hd, n := len(o), len(sc)
	if useAsm && hd > 0 && hd%4 == 0 && n > 0 {
		_ = v[(n-1)*stride+hd-1]
		headMixNEON(&o[0], &v[0], &sc[0], stride, hd, n)
		return
	}
	headMixGeneric(o, v, sc, stride)
}

// headDots and headAxpys take a head length that is a multiple of eight
// (dotNEON's and axpyNEON's blocks, so no tail); others call Dot and Axpy
// per position.
func headDots(sc, q, k []float32, stride int, scale float32) {
	hd, n := len(q), len(sc)
	if useAsm && hd > 0 && hd%8 == 0 && n > 0 {
		_ = k[(n-1)*stride+hd-1]
		headDotsNEON(&sc[0], &q[0], &k[0], stride, hd, n, scale)
		return
	}
	headDotsLoop(sc, q, k, stride, scale)
}

func headAxpys(o, v, sc []float32, stride int) {
	hd, n := len(o), len(sc)
	if useAsm && hd > 0 && hd%8 == 0 && n > 0 {
		_ = v[(n-1)*stride+hd-1]
		headAxpysNEON(&o[0], &v[0], &sc[0], stride, hd, n)
		return
	}
	headAxpysLoop(o, v, sc, stride)
}
