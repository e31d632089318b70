//go:build arm64 && !noasm

package quant

import (
	"math/rand/v2"
	"testing"
)

// TestDotBothNEONPaths runs the SDOT kernels and their ARMv8.0 fallback
// (SMULL, SADALP), one-row and four-row, on raw bytes, every int8 code and
// nibble included, against the portable kernels. The CPU decides which path production takes; the
// test takes both (SDOT only where the CPU has it).
func TestDotBothNEONPaths(t *testing.T) {
	if !useAsm {
		t.Skip("no NEON")
	}
	hasSDOT := useSDOT
	defer func() { useSDOT = hasSDOT }()
	t.Logf("ASIMDDP (SDOT): %v", hasSDOT)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sdot := range []bool{false, true} {
		if sdot && !hasSDOT {
			continue
		}
		useSDOT = sdot
		for _, nb := range []int{1, 2, 5, 24} {
			w8 := make([]byte, nb*Q8_0BlockBytes)
			w4 := make([]byte, nb*Q4_0BlockBytes)
			x := make([]byte, nb*Q8_0BlockBytes)
			for trial := range 40 {
				for _, buf := range [][]byte{w8, w4, x} {
					for i := range buf {
						if trial%2 == 0 {
							buf[i] = byte(rng.Uint32())
						} else {
							buf[i] = byte(0x7f + rng.IntN(3)) // 127, -128, -127
						}
					}
				}
				if got, want := dotQ8_0(w8, x, nb), dotQ8_0Generic(w8, x, nb); !sameBits(got, want) {
					t.Errorf("Q8_0 sdot=%v nb=%d trial %d: kernel %v, portable %v", sdot, nb, trial, got, want)
				}
				if got, want := dotQ4_0(w4, x, nb), dotQ4_0Generic(w4, x, nb); !sameBits(got, want) {
					t.Errorf("Q4_0 sdot=%v nb=%d trial %d: kernel %v, portable %v", sdot, nb, trial, got, want)
				}
				// Nine rows, 3 bytes of padding between them: two four-row
				// calls and one single row.
				const rows = 9
				for _, f := range []struct {
					name            string
					rb              int
					kernel, generic func([]float32, []byte, int, []byte, int)
				}{
					{"Q8_0", nb*Q8_0BlockBytes + 3, rowsQ8_0, rowsQ8_0Generic},
					{"Q4_0", nb*Q4_0BlockBytes + 3, rowsQ4_0, rowsQ4_0Generic},
				} {
					w := make([]byte, rows*f.rb)
					for i := range w {
						w[i] = byte(rng.Uint32())
					}
					got, want := make([]float32, rows), make([]float32, rows)
					f.kernel(got, w, f.rb, x, nb)
					f.generic(want, w, f.rb, x, nb)
					for r := range rows {
						if !sameBits(got[r], want[r]) {
							t.Errorf("rows %s sdot=%v nb=%d trial %d row %d: kernel %v, portable %v", f.name, sdot, nb, trial, r, got[r], want[r])
						}
					}
				}
			}
		}
	}
}

// TestKDotBothNEONPaths runs the K-quant kernels, SDOT and ARMv8.0, on raw
// super-blocks (every code and scale pattern) against the portable kernels,
// over more super-blocks than one kernel call takes (kChunk).
func TestKDotBothNEONPaths(t *testing.T) {
	if !useAsm {
		t.Skip("no NEON")
	}
	hasSDOT := useSDOT
	defer func() { useSDOT = hasSDOT }()
	rng := rand.New(rand.NewPCG(15, 16))
	for _, sdot := range []bool{false, true} {
		if sdot && !hasSDOT {
			continue
		}
		useSDOT = sdot
		for _, f := range kFormats {
			for _, nb := range []int{1, 3, kChunk, kChunk + 5} {
				for trial := range 5 {
					w, x := randKBlocks(rng, f, nb), randQ8K(rng, nb)
					got := make([]float32, 1)
					f.rows(got, w, nb*f.blockBytes, x, nb)
					if want := f.generic(w, x, nb); !sameBits(got[0], want) {
						t.Errorf("%s sdot=%v nb=%d trial %d: kernel %v, portable %v", f.name, sdot, nb, trial, got[0], want)
					}
				}
			}
		}
	}
}
