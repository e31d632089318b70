package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// legacyFormats are the 32-value block types Shear reads but does not run.
var legacyFormats = []struct {
	name       string
	ggmlType   int
	blockBytes int
	dequant    func([]float32, []byte)
}{
	{"Q4_1", 3, Q4_1BlockBytes, DequantizeQ4_1},
	{"Q5_0", 6, Q5_0BlockBytes, DequantizeQ5_0},
	{"Q5_1", 7, Q5_1BlockBytes, DequantizeQ5_1},
}

// goldenLegacyPath holds blocks and llama.cpp's dequantization of them,
// written by TestWriteLegacyGolden as goldenKPath is.
const goldenLegacyPath = "testdata/legacy-llamacpp.bin"

// legacyBlocks are random blocks with finite scales of either sign and
// magnitudes from 2^-14 to 2^3 (mins likewise), every code byte random.
func legacyBlocks(blockBytes int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	const nb = 64
	b := make([]byte, nb*blockBytes)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for i := range nb {
		scales := 2 // d and m
		if blockBytes == Q5_0BlockBytes {
			scales = 1
		}
		for o := 0; o < 2*scales; o += 2 {
			h := uint16(1+rng.IntN(18))<<10 | uint16(rng.IntN(1024)) | uint16(rng.IntN(2))<<15
			binary.LittleEndian.PutUint16(b[i*blockBytes+o:], h)
		}
	}
	return b
}

// TestLegacyDequantMatchesLlamaCpp: bit-identical to llama.cpp's to_float
// (commit c392e50, built with -march=native on the AMD EPYC test machine).
func TestLegacyDequantMatchesLlamaCpp(t *testing.T) {
	data, err := os.ReadFile(goldenLegacyPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range legacyFormats {
		nb := int(binary.LittleEndian.Uint32(data))
		blocks := data[4 : 4+nb*f.blockBytes]
		vals := data[4+nb*f.blockBytes : 4+nb*f.blockBytes+4*nb*BlockSize]
		data = data[4+nb*f.blockBytes+4*nb*BlockSize:]
		if !bytes.Equal(blocks, legacyBlocks(f.blockBytes, uint64(f.ggmlType))) {
			t.Fatalf("%s: stored blocks are not legacyBlocks' (regenerate the golden file)", f.name)
		}
		got := make([]float32, nb*BlockSize)
		f.dequant(got, blocks)
		bad := 0
		for i, g := range got {
			if want := binary.LittleEndian.Uint32(vals[4*i:]); math.Float32bits(g) != want {
				if bad++; bad <= 5 {
					t.Errorf("%s value %d: %v (%#x), llama.cpp %v (%#x)", f.name, i, g, math.Float32bits(g), math.Float32frombits(want), want)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ", f.name, bad, len(got))
		}
	}
}

// TestLegacyDequantFloat64 checks the formulas independently: every value
// is q·d + m (or (q−16)·d) in float64 within the two float32 roundings.
func TestLegacyDequantFloat64(t *testing.T) {
	for _, f := range legacyFormats {
		blocks := legacyBlocks(f.blockBytes, 1)
		nb := len(blocks) / f.blockBytes
		got := make([]float32, nb*BlockSize)
		f.dequant(got, blocks)
		for i := range nb {
			b := blocks[i*f.blockBytes:]
			d := float64(half(b))
			var m float64
			o := 2
			if f.name != "Q5_0" {
				m, o = float64(half(b[2:])), 4
			}
			var qh uint32
			if f.name != "Q4_1" {
				qh, o = binary.LittleEndian.Uint32(b[o:]), o+4
			}
			for j := range BlockSize {
				q := int(b[o+j%16] >> (4 * (j / 16)) & 0xF)
				if f.name != "Q4_1" {
					q |= int(qh>>j&1) << 4
				}
				if f.name == "Q5_0" {
					q -= 16
				}
				want := float64(q)*d + m
				tol := 2 * 0x1p-24 * (math.Abs(float64(q)*d) + math.Abs(want))
				if g := float64(got[i*BlockSize+j]); math.Abs(g-want) > tol {
					t.Fatalf("%s block %d value %d: %v, float64 %v", f.name, i, j, g, want)
				}
			}
		}
	}
}

// TestWriteLegacyGolden regenerates goldenLegacyPath with llama.cpp's
// to_float when SHEAR_KGOLDEN names the kgolden helper (testdata/kgolden.c).
func TestWriteLegacyGolden(t *testing.T) {
	tool := os.Getenv("SHEAR_KGOLDEN")
	if tool == "" {
		t.Skip("SHEAR_KGOLDEN is not set")
	}
	var out bytes.Buffer
	for _, f := range legacyFormats {
		out.Write(goldenRecord(t, tool, f.ggmlType, legacyBlocks(f.blockBytes, uint64(f.ggmlType)), f.blockBytes, BlockSize))
	}
	if err := os.WriteFile(goldenLegacyPath, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
