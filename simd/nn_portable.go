//go:build !arm64 || noasm

package simd

// haveNNAsm: no kernels of their own here (the mirror tests skip).
const haveNNAsm = false

func sumSquares(x []float32) float64                 { return sumSquaresGeneric(x) }
func normScale(out, x, w []float32, s float32)       { normScaleGeneric(out, x, w, s) }
func ropePairs(v, cos, sin []float32, back bool)     { ropePairsGeneric(v, cos, sin, back) }
func ropeHalves(a, b, cos, sin []float32, back bool) { ropeHalvesGeneric(a, b, cos, sin, back) }
func headScores(sc, q, k []float32, stride int, scale float32) {
	headScoresGeneric(sc, q, k, stride, scale)
}
func headMix(o, v, sc []float32, stride int) { headMixGeneric(o, v, sc, stride) }
func headDots(sc, q, k []float32, stride int, scale float32) {
	headDotsLoop(sc, q, k, stride, scale)
}
func headAxpys(o, v, sc []float32, stride int) { headAxpysLoop(o, v, sc, stride) }
