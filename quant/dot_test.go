package quant

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
)

// sameBits reports whether a and b are the same float32, any NaN matching
// any NaN (hardware and software fp16 conversion quiet NaNs differently).
func sameBits(a, b float32) bool {
	if math.IsNaN(float64(a)) && math.IsNaN(float64(b)) {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// refDot is the float64 dot product of the dequantized rows, and the sum of
// the magnitudes of its terms, which scales the float32 tolerance.
func refDot(w, x []float32) (dot, mag float64) {
	for i := range w {
		p := float64(w[i]) * float64(x[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

type quantFormat struct {
	name     string
	rowBytes func(int) int
	quantize func([]byte, []float32)
	dequant  func([]float32, []byte)
	dot      func([]byte, []byte, int) float32
	generic  func([]byte, []byte, int) float32
	matVec   func([]float32, []byte, []float32, int, int, []byte)
	matMul   func([]float32, []float32, []byte, int, int, int, []byte)
}

var formats = []quantFormat{
	{"Q8_0", RowBytesQ8_0, QuantizeQ8_0, DequantizeQ8_0, DotQ8_0, dotQ8_0Generic, MatVecQ8_0, MatMulQ8_0},
	{"Q4_0", RowBytesQ4_0, QuantizeQ4_0, DequantizeQ4_0, DotQ4_0, dotQ4_0Generic, MatVecQ4_0, MatMulQ4_0},
}

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range formats {
		for _, nb := range []int{1, 2, 3, 7, 8, 24, 65, 200} {
			for shape := range 4 {
				cols := nb * BlockSize
				wq := make([]byte, f.rowBytes(cols))
				xq := make([]byte, RowBytesQ8_0(cols))
				f.quantize(wq, randRow(rng, cols, shape))
				QuantizeQ8_0(xq, randRow(rng, cols, shape+1))
				wd := make([]float32, cols)
				xd := make([]float32, cols)
				f.dequant(wd, wq)
				DequantizeQ8_0(xd, xq)
				ref, mag := refDot(wd, xd)

				gen := f.generic(wq, xq, nb)
				got := f.dot(wq, xq, nb)
				if !sameBits(got, gen) {
					t.Errorf("%s nb=%d shape %d: kernel %v, portable %v", f.name, nb, shape, got, gen)
				}
				// Each block term is rounded once when scaled and once when
				// added: 2·nb roundings of at most 2^-24 of the running sum,
				// bounded by the sum of magnitudes.
				tol := 2 * float64(nb+1) * 0x1p-24 * mag
				if math.Abs(float64(gen)-ref) > tol {
					t.Errorf("%s nb=%d shape %d: portable %v, float64 %v, tolerance %g", f.name, nb, shape, gen, ref, tol)
				}
			}
		}
	}
}

// TestDotExtremeCodes uses raw bytes, not quantizer output: every int8 code
// including -128 on both sides, every nibble, and random fp16 scales.
func TestDotExtremeCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nb = 37
	w8 := make([]byte, nb*Q8_0BlockBytes)
	w4 := make([]byte, nb*Q4_0BlockBytes)
	x := make([]byte, nb*Q8_0BlockBytes)
	for trial := range 50 {
		for _, buf := range [][]byte{w8, w4, x} {
			for i := range buf {
				switch trial % 3 {
				case 0:
					buf[i] = byte(rng.Uint32())
				case 1:
					buf[i] = 0x80 // -128 codes; nibbles 0 and 8
				case 2:
					buf[i] = byte(0x7f + rng.IntN(3)) // 127, -128, -127
				}
			}
		}
		// Finite scales between 2^-8 and 2^8, either sign.
		for b := range nb {
			for _, blk := range [][]byte{w8[b*Q8_0BlockBytes:], w4[b*Q4_0BlockBytes:], x[b*Q8_0BlockBytes:]} {
				h := uint16(7+rng.IntN(16))<<10 | uint16(rng.IntN(1024)) | uint16(rng.IntN(2))<<15
				blk[0], blk[1] = byte(h), byte(h>>8)
			}
		}
		if got, want := DotQ8_0(w8, x, nb), dotQ8_0Generic(w8, x, nb); !sameBits(got, want) {
			t.Errorf("Q8_0 trial %d: kernel %v, portable %v", trial, got, want)
		}
		if got, want := DotQ4_0(w4, x, nb), dotQ4_0Generic(w4, x, nb); !sameBits(got, want) {
			t.Errorf("Q4_0 trial %d: kernel %v, portable %v", trial, got, want)
		}
	}
}

func TestMatVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, f := range formats {
		for _, cols := range []int{32, 96, 768} {
			for _, rows := range []int{1, 2, 3, 4, 5, 7, 33, 130} {
				rb := f.rowBytes(cols)
				w := make([]byte, rows*rb)
				for r := range rows {
					f.quantize(w[r*rb:], randRow(rng, cols, r))
				}
				x := randRow(rng, cols, 0)
				xq := make([]byte, RowBytesQ8_0(cols))
				out := make([]float32, rows)
				f.matVec(out, w, x, rows, cols, xq)

				want := make([]byte, len(xq))
				QuantizeQ8_0(want, x)
				if string(want) != string(xq) {
					t.Fatalf("%s %dx%d: xq is not x quantized to Q8_0", f.name, rows, cols)
				}
				xd := make([]float32, cols)
				wd := make([]float32, cols)
				DequantizeQ8_0(xd, xq)
				for r := range rows {
					gen := f.generic(w[r*rb:], xq, cols/BlockSize)
					if !sameBits(out[r], gen) {
						t.Errorf("%s %dx%d row %d: %v, portable dot %v", f.name, rows, cols, r, out[r], gen)
					}
					f.dequant(wd, w[r*rb:])
					ref, mag := refDot(wd, xd)
					if tol := 2 * float64(cols/BlockSize+1) * 0x1p-24 * mag; math.Abs(float64(out[r])-ref) > tol {
						t.Errorf("%s %dx%d row %d: %v, float64 %v", f.name, rows, cols, r, out[r], ref)
					}
				}

				// The portable path gives the same bits.
				asm := useAsm
				useAsm = false
				port := make([]float32, rows)
				f.matVec(port, w, x, rows, cols, xq)
				useAsm = asm
				for r := range rows {
					if !sameBits(out[r], port[r]) {
						t.Errorf("%s %dx%d row %d: %v, portable MatVec %v", f.name, rows, cols, r, out[r], port[r])
					}
				}
			}
		}
	}
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, rows, cols = 5, 301, 256 // more rows than one tile, not a multiple of 4
	for _, f := range formats {
		rb := f.rowBytes(cols)
		w := make([]byte, rows*rb)
		for r := range rows {
			f.quantize(w[r*rb:], randRow(rng, cols, r))
		}
		x := randRow(rng, n*cols, 1)
		xq := make([]byte, n*RowBytesQ8_0(cols))
		out := make([]float32, n*rows)
		f.matMul(out, x, w, n, rows, cols, xq)
		vec := make([]float32, rows)
		for i := range n {
			f.matVec(vec, w, x[i*cols:(i+1)*cols], rows, cols, xq)
			for r := range rows {
				if !sameBits(out[i*rows+r], vec[r]) {
					t.Fatalf("%s: out[%d][%d] = %v, MatVec %v", f.name, i, r, out[i*rows+r], vec[r])
				}
			}
		}
	}
}

func TestZeroCols(t *testing.T) {
	out := []float32{1, 2}
	MatVecQ4_0(out, nil, nil, 2, 0, nil)
	if out[0] != 0 || out[1] != 0 {
		t.Errorf("out = %v", out)
	}
	if d := DotQ8_0(nil, nil, 0); d != 0 {
		t.Errorf("DotQ8_0 of nothing = %v", d)
	}
}

func TestMatVecAllocs(t *testing.T) {
	const rows, cols = 512, 768
	for _, f := range formats {
		w := make([]byte, rows*f.rowBytes(cols))
		x := randRow(rand.New(rand.NewPCG(1, 1)), cols, 0)
		xq := make([]byte, RowBytesQ8_0(cols))
		out := make([]float32, rows)
		f.matVec(out, w, x, rows, cols, xq) // warm the pools
		if a := testing.AllocsPerRun(100, func() { f.matVec(out, w, x, rows, cols, xq) }); a != 0 {
			t.Errorf("%s MatVec: %v allocations per call", f.name, a)
		}
	}
}

// fuzzBlocks splits data into nb weight blocks of wBytes and nb Q8_0 blocks.
func fuzzBlocks(data []byte, wBytes int) (w, x []byte, nb int) {
	nb = len(data) / (wBytes + Q8_0BlockBytes)
	return data[:nb*wBytes], data[nb*wBytes : nb*(wBytes+Q8_0BlockBytes)], nb
}

func fuzzSeeds(f *testing.F, wBytes int) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, nb := range []int{1, 3, 9} {
		b := make([]byte, nb*(wBytes+Q8_0BlockBytes))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
}

func FuzzDotQ8_0(f *testing.F) {
	fuzzSeeds(f, Q8_0BlockBytes)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, x, nb := fuzzBlocks(data, Q8_0BlockBytes)
		if got, want := DotQ8_0(w, x, nb), dotQ8_0Generic(w, x, nb); !sameBits(got, want) {
			t.Fatalf("nb=%d: kernel %v (%#x), portable %v (%#x)", nb, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	})
}

func FuzzDotQ4_0(f *testing.F) {
	fuzzSeeds(f, Q4_0BlockBytes)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, x, nb := fuzzBlocks(data, Q4_0BlockBytes)
		if got, want := DotQ4_0(w, x, nb), dotQ4_0Generic(w, x, nb); !sameBits(got, want) {
			t.Fatalf("nb=%d: kernel %v (%#x), portable %v (%#x)", nb, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	})
}

// BenchmarkMatVec reports the weight bytes read per second. The Portable
// case runs the pure-Go kernels, for comparison.
func BenchmarkMatVec(b *testing.B) {
	const cols = 768
	for _, f := range formats {
		for _, rows := range []int{768, 2048, 32000, -2048} {
			portable := rows < 0
			rows = max(rows, -rows)
			rb := f.rowBytes(cols)
			w := make([]byte, rows*rb)
			rng := rand.New(rand.NewPCG(1, 2))
			for r := range rows {
				f.quantize(w[r*rb:], randRow(rng, cols, 0))
			}
			x := randRow(rng, cols, 0)
			xq := make([]byte, RowBytesQ8_0(cols))
			out := make([]float32, rows)
			name := fmt.Sprintf("%s/%dx%d", f.name, rows, cols)
			if portable {
				name += "/Portable"
			}
			b.Run(name, func(b *testing.B) {
				if portable {
					defer func(asm bool) { useAsm = asm }(useAsm)
					useAsm = false
				}
				for b.Loop() {
					f.matVec(out, w, x, rows, cols, xq)
				}
				b.ReportMetric(float64(len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// TestGolden pins the bits of a MatVec over fixed data. The want values were
// computed on amd64 with the assembly; the portable code must give the same
// bits on every architecture (no FMA contraction anywhere), so this test
// failing on arm64 or riscv64 means the float32 order was broken.
func TestGolden(t *testing.T) {
	want := map[string]uint64{"Q8_0": 0xe04d8b3c8a77fe96, "Q4_0": 0xdc501812a0dd0a96}
	const rows, cols = 37, 768
	for _, f := range formats {
		rng := rand.New(rand.NewPCG(17, 18))
		rb := f.rowBytes(cols)
		w := make([]byte, rows*rb)
		for r := range rows {
			f.quantize(w[r*rb:], randRow(rng, cols, r))
		}
		x := randRow(rng, cols, 1)
		xq := make([]byte, RowBytesQ8_0(cols))
		out := make([]float32, rows)
		f.matVec(out, w, x, rows, cols, xq)
		h := fnv.New64a()
		h.Write(w)
		h.Write(xq)
		for _, v := range out {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
		if got := h.Sum64(); got != want[f.name] {
			t.Errorf("%s: hash %#x, want %#x", f.name, got, want[f.name])
		}
	}
}

// TestQuantizeNeverMinus128 backs the Q8_0 x4 kernel's use of VPSIGNB on the
// activation side: for every finite input, the quantizer's codes lie in
// [-127, 127], also for subnormal, huge and single-spike blocks.
func TestQuantizeNeverMinus128(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	src := make([]float32, BlockSize)
	dst := make([]byte, Q8_0BlockBytes)
	scales := []float32{1e-45, 1e-42, 1e-40, 1.2e-38, 1e-30, 1, 1e30, math.MaxFloat32}
	for trial := range 20000 {
		s := scales[trial%len(scales)]
		for i := range src {
			switch trial / len(scales) % 3 {
			case 0:
				src[i] = s * float32(rng.NormFloat64())
			case 1:
				src[i] = -s * rng.Float32()
			case 2:
				src[i] = 0
				if i == trial%BlockSize {
					src[i] = -s
				}
			}
			if math.IsInf(float64(src[i]), 0) {
				src[i] = -math.MaxFloat32
			}
		}
		QuantizeQ8_0(dst, src)
		for i, c := range dst[2:] {
			if int8(c) == -128 {
				t.Fatalf("trial %d: code %d is -128 for input %g", trial, i, src[i])
			}
		}
	}
}

// TestRowsExtremeWeights runs the four-row kernels, for one activation row
// and for two, on raw weight bytes (every code, -128 included) against
// activations from the quantizer, as MatVec and MatMul do, and wants the
// portable bits.
func TestRowsExtremeWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const nb, rows = 24, 9
	xrb := RowBytesQ8_0(nb * BlockSize)
	xq := make([]byte, 2*xrb) // two activation rows
	QuantizeQ8_0(xq[:xrb], randRow(rng, nb*BlockSize, 0))
	QuantizeQ8_0(xq[xrb:], randRow(rng, nb*BlockSize, 1))
	for _, f := range []struct {
		name       string
		rb         int
		kernel     func([]float32, []byte, int, []byte, int)
		kernel2    func(out0, out1 []float32, w []byte, rb int, xq []byte, xrb, nb int)
		portable   func([]float32, []byte, int, []byte, int)
		blockBytes int
	}{
		{"Q8_0", nb * Q8_0BlockBytes, rowsQ8_0, rowsQ8_0x2, rowsQ8_0Generic, Q8_0BlockBytes},
		{"Q4_0", nb * Q4_0BlockBytes, rowsQ4_0, rowsQ4_0x2, rowsQ4_0Generic, Q4_0BlockBytes},
	} {
		w := make([]byte, rows*f.rb)
		for trial := range 30 {
			for i := range w {
				switch trial % 3 {
				case 0:
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
			got, want := make([]float32, rows), make([]float32, rows)
			f.kernel(got, w, f.rb, xq, nb)
			f.portable(want, w, f.rb, xq, nb)
			for r := range rows {
				if !sameBits(got[r], want[r]) {
					t.Errorf("%s trial %d row %d: kernel %v, portable %v", f.name, trial, r, got[r], want[r])
				}
			}
			got1, want1 := make([]float32, rows), make([]float32, rows)
			f.kernel2(got, got1, w, f.rb, xq, xrb, nb)
			f.portable(want1, w, f.rb, xq[xrb:], nb)
			for r := range rows {
				if !sameBits(got[r], want[r]) || !sameBits(got1[r], want1[r]) {
					t.Errorf("%s trial %d row %d, two activation rows: kernel %v %v, portable %v %v",
						f.name, trial, r, got[r], got1[r], want[r], want1[r])
				}
			}
		}
	}
}

// BenchmarkRowsTwoActivations compares the x4x2 kernels (two activation
// rows per weight load, as MatMul runs a prefill) with two passes of the
// x4 kernels over the same 768×768 weights, single-threaded; GMAC/s.
func BenchmarkRowsTwoActivations(b *testing.B) {
	const cols, rows = 768, 768
	nb := cols / BlockSize
	for _, f := range formats {
		rb := f.rowBytes(cols)
		rng := rand.New(rand.NewPCG(1, 2))
		w := make([]byte, rows*rb)
		for r := range rows {
			f.quantize(w[r*rb:], randRow(rng, cols, 0))
		}
		xrb := RowBytesQ8_0(cols)
		xq := make([]byte, 2*xrb)
		QuantizeQ8_0(xq[:xrb], randRow(rng, cols, 0))
		QuantizeQ8_0(xq[xrb:], randRow(rng, cols, 1))
		o0, o1 := make([]float32, rows), make([]float32, rows)
		one, two := rowsQ8_0, rowsQ8_0x2
		if f.name == "Q4_0" {
			one, two = rowsQ4_0, rowsQ4_0x2
		}
		report := func(b *testing.B) {
			b.ReportMetric(2*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		}
		b.Run(f.name+"/x4-twice", func(b *testing.B) {
			for b.Loop() {
				one(o0, w, rb, xq, nb)
				one(o1, w, rb, xq[xrb:], nb)
			}
			report(b)
		})
		b.Run(f.name+"/x4x2", func(b *testing.B) {
			for b.Loop() {
				two(o0, o1, w, rb, xq, xrb, nb)
			}
			report(b)
		})
	}
}
