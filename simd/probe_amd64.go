//go:build amd64 && !noasm

package simd

//go:noescape
func fmaLoopAVX(n int, a float32) float32

//go:noescape
func readStreamAVX(p *byte, n int) uint64

// fmaLoop runs n iterations of twelve independent 8-lane FMAs, acc += a·a,
// and returns the sum of all lanes (n > 0).
func fmaLoop(n int, a float32) float32 {
	if useAsm && n > 0 {
		return fmaLoopAVX(n, a)
	}
	return fmaLoopGeneric(n, a)
}

// readStream ORs together every 8-byte word of b, len(b) a multiple of
// readProbeStep.
func readStream(b []byte) uint64 {
	if useAsm && len(b) > 0 {
		return readStreamAVX(&b[0], len(b))
	}
	return readStreamGeneric(b)
}
