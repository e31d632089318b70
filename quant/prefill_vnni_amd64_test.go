//go:build amd64 && !noasm

package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPrefillVNNIMirror holds the VNNI prefill kernels to the AVX2 kernels
// and to the portable code, bit for bit: random and extreme weight codes
// (all -128, around ±127, random bytes as Q4_0 nibbles), activation rows
// not a multiple of four (and fewer than four), weight rows not a multiple
// of sixteen.
func TestPrefillVNNIMirror(t *testing.T) {
	if !useVNNI || !useAsm {
		t.Skip("no AVX-512 VNNI on this machine")
	}
	rng := rand.New(rand.NewPCG(15, 16))
	type product func([]float32, []float32, []byte, int, int, int, []byte)
	for _, f := range []struct {
		name       string
		blockBytes int
		matMul     product
	}{{"Q8_0", Q8_0BlockBytes, MatMulQ8_0}, {"Q4_0", Q4_0BlockBytes, MatMulQ4_0}} {
		for _, sz := range [][3]int{{2, 32, 64}, {3, 17, 32}, {4, 4, 32}, {5, 9, 64}, {8, 16, 768}, {13, 37, 256}, {67, 64, 2048}} {
			n, rows, cols := sz[0], sz[1], sz[2]
			nb := cols / BlockSize
			w := make([]byte, rows*nb*f.blockBytes)
			for trial := range 4 {
				for i := range w {
					switch trial {
					case 0, 3:
						w[i] = byte(rng.Uint32())
					case 1:
						w[i] = 0x80
					case 2:
						w[i] = byte(0x7f + rng.IntN(3))
					}
				}
				for b := 0; b < len(w); b += f.blockBytes {
					h := uint16(7+rng.IntN(16))<<10 | uint16(rng.IntN(1024)) | uint16(rng.IntN(2))<<15
					w[b], w[b+1] = byte(h), byte(h>>8)
				}
				x := randRow(rng, n*cols, trial)
				xq := make([]byte, n*RowBytesQ8_0(cols))
				vnni, avx2, port := make([]float32, n*rows), make([]float32, n*rows), make([]float32, n*rows)
				f.matMul(vnni, x, w, n, rows, cols, xq)
				useVNNI = false
				f.matMul(avx2, x, w, n, rows, cols, xq)
				useAsm = false
				f.matMul(port, x, w, n, rows, cols, xq)
				useVNNI, useAsm = true, true
				name := fmt.Sprintf("%s %v trial %d", f.name, sz, trial)
				for k := range vnni {
					if !sameBits(vnni[k], avx2[k]) || !sameBits(vnni[k], port[k]) {
						t.Fatalf("%s: out[%d][%d] VNNI %v, AVX2 %v, portable %v", name, k/rows, k%rows, vnni[k], avx2[k], port[k])
					}
				}
			}
		}
	}
}
