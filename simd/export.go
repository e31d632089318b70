package simd

// ExpSub sets x[i] = e^(x[i]-m) and returns their sum accumulated in
// float64: Softmax before its final scaling. It is exported for the
// WebAssembly host kernels (wasm/host), which run a guest's Softmax on the
// native kernels.
func ExpSub(x []float32, m float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return expSub(x, m)
}
