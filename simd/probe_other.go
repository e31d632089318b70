//go:build !amd64 || noasm

package simd

func fmaWidest() int { return 1 }

func fmaLoop(lanes, n int, a float32) float32 { return fmaLoopGeneric(n, a) }

func readStream(b []byte) uint64 { return readStreamGeneric(b) }
