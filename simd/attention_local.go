//go:build !(wasip1 && shearhost)

package simd

func attention(out, q, kCache, vCache, scores []float32, n, pos, heads, kvHeads, headDim, ctx int) {
	attentionLocal(out, q, kCache, vCache, scores, n, pos, heads, kvHeads, headDim, ctx)
}
