//go:build amd64 && !noasm

package simd

import "golang.org/x/sys/cpu"

//go:noescape
func fmaLoopAVX(n int, a float32) float32

//go:noescape
func fmaLoopAVX512(n int, a float32) float32

//go:noescape
func readStreamAVX(p *byte, n int) uint64

// hasAVX512 says whether the 16-lane probe can run (x/sys/cpu also checks
// that the OS saves the registers).
var hasAVX512 = cpu.X86.HasAVX512F

// fmaLanes is the widest FMA this machine runs: 16 with AVX-512F, 8 with
// AVX2+FMA, 1 for the portable loop.
func fmaWidest() int {
	switch {
	case useAsm && hasAVX512:
		return 16
	case useAsm:
		return 8
	}
	return 1
}

// fmaLoop runs n iterations of twelve independent FMAs of the given lane
// count (16, 8 or 1; at most fmaWidest()), acc += a·a, and returns the sum
// of all lanes (n > 0).
func fmaLoop(lanes, n int, a float32) float32 {
	switch {
	case lanes == 16 && useAsm && hasAVX512 && n > 0:
		return fmaLoopAVX512(n, a)
	case lanes == 8 && useAsm && n > 0:
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
