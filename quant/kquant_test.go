package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

type kFormat struct {
	name       string
	ggmlType   int
	blockBytes int
	dequant    func([]float32, []byte)
	dot        func([]byte, []byte, int) float32
	generic    func([]byte, []byte, int) float32
	rows       func([]float32, []byte, int, []byte, int)
	halves     []int // offsets of the fp16 scales in a block
}

var kFormats = []kFormat{
	{"Q4_K", 12, Q4_KBlockBytes, DequantizeQ4_K, DotQ4_K, dotQ4_KGeneric, rowsQ4_K, []int{0, 2}},
	{"Q5_K", 13, Q5_KBlockBytes, DequantizeQ5_K, DotQ5_K, dotQ5_KGeneric, rowsQ5_K, []int{0, 2}},
	{"Q6_K", 14, Q6_KBlockBytes, DequantizeQ6_K, DotQ6_K, dotQ6_KGeneric, rowsQ6_K, []int{208}},
}

// randKBlocks fills nb blocks with random bytes and finite fp16 scales of
// either sign between 2^-10 and 2^5.
func randKBlocks(rng *rand.Rand, f kFormat, nb int) []byte {
	b := make([]byte, nb*f.blockBytes)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for i := range nb {
		for _, o := range f.halves {
			h := uint16(5+rng.IntN(15))<<10 | uint16(rng.IntN(1024)) | uint16(rng.IntN(2))<<15
			binary.LittleEndian.PutUint16(b[i*f.blockBytes+o:], h)
		}
	}
	return b
}

// randQ8K is nb Q8_K super-blocks with random codes (every int8, -128
// included, whatever the quantizer would give), their true bsums and a
// random positive float32 scale.
func randQ8K(rng *rand.Rand, nb int) []byte {
	b := make([]byte, nb*Q8_KBlockBytes)
	for i := range nb {
		blk := b[i*Q8_KBlockBytes:]
		binary.LittleEndian.PutUint32(blk, math.Float32bits(float32(rng.Float64()*0.1+1e-3)))
		for j := range SuperBlockSize {
			blk[4+j] = byte(rng.Uint32())
		}
		for g := range 16 {
			var s int16
			for _, c := range blk[4+16*g : 4+16*g+16] {
				s += int16(int8(c))
			}
			binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(s))
		}
	}
	return b
}

func dequantQ8K(x []byte, nb int) []float32 {
	out := make([]float32, nb*SuperBlockSize)
	for i := range nb {
		blk := (*[Q8_KBlockBytes]byte)(x[i*Q8_KBlockBytes:])
		d := q8KScale(blk)
		for j := range SuperBlockSize {
			out[i*SuperBlockSize+j] = d * float32(int8(blk[4+j]))
		}
	}
	return out
}

// TestKDotMirror: the assembly row kernels give the portable kernels' bits,
// for raw bytes (every code, any scale byte pattern in the 6-bit fields),
// one row and many, and both agree with the float64 dot product of the
// dequantized operands within the rounding of 3 operations per super-block.
func TestKDotMirror(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, f := range kFormats {
		for _, nb := range []int{1, 2, 3, 8, 11} {
			const rows = 6
			w := randKBlocks(rng, f, rows*nb)
			x := randQ8K(rng, nb)
			out := make([]float32, rows)
			f.rows(out, w, nb*f.blockBytes, x, nb)
			xd := dequantQ8K(x, nb)
			wd := make([]float32, nb*SuperBlockSize)
			for r := range rows {
				wr := w[r*nb*f.blockBytes:]
				gen := f.generic(wr, x, nb)
				if !sameBits(out[r], gen) || !sameBits(f.dot(wr, x, nb), gen) {
					t.Errorf("%s nb=%d row %d: kernel %v, Dot %v, portable %v", f.name, nb, r, out[r], f.dot(wr, x, nb), gen)
				}
				f.dequant(wd, wr)
				ref, mag := refDot(wd, xd)
				// The dequantized weights carry their own roundings (two per
				// value), the products (dw·dx)·isum a few more per block.
				tol := 8 * float64(nb+1) * 0x1p-24 * mag
				if math.Abs(float64(gen)-ref) > tol {
					t.Errorf("%s nb=%d row %d: portable %v, float64 %v, tolerance %g", f.name, nb, r, gen, ref, tol)
				}
			}
		}
	}
}

// refDequantK is a float64 transcription of ggml's reference formulas,
// read straight from the documented layout (not through the helpers of
// kquant.go): x = d·sc·q − dmin·m for Q4_K/Q5_K, x = d·sc·(q−32) for Q6_K.
func refDequantK(name string, blk []byte) []float64 {
	h := func(o int) float64 { return float64(halfToFloat32(binary.LittleEndian.Uint16(blk[o:]))) }
	out := make([]float64, SuperBlockSize)
	switch name {
	case "Q4_K", "Q5_K":
		d, dmin, s := h(0), h(2), blk[4:16]
		for v := range SuperBlockSize {
			j := v / 32 // sub-block
			var sc, m int
			if j < 4 {
				sc, m = int(s[j]&63), int(s[j+4]&63)
			} else {
				sc = int(s[j+4]&15) | int(s[j-4]>>6)<<4
				m = int(s[j+4]>>4) | int(s[j]>>6)<<4
			}
			var q int
			if name == "Q4_K" {
				q = int(blk[16+32*(j/2)+v%32]>>(4*(j%2))) & 15
			} else {
				q = int(blk[48+32*(j/2)+v%32]>>(4*(j%2)))&15 | int(blk[16+v%32]>>j&1)<<4
			}
			out[v] = d*float64(sc)*float64(q) - dmin*float64(m)
		}
	case "Q6_K":
		d := h(208)
		for v := range SuperBlockSize {
			half, k, l := v/128, v%128/32, v%32
			ql := blk[64*half+l+32*(k%2)]
			lo := int(ql) & 15
			if k >= 2 {
				lo = int(ql) >> 4
			}
			hi := int(blk[128+32*half+l]>>(2*k)) & 3
			out[v] = d * float64(int8(blk[192+v/16])) * float64(lo|hi<<4-32)
		}
	}
	return out
}

// TestKDequantReference checks the dequantizers against refDequantK: the
// float32 results are within the two roundings the C formulas make.
func TestKDequantReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, f := range kFormats {
		const nb = 20
		b := randKBlocks(rng, f, nb)
		got := make([]float32, nb*SuperBlockSize)
		f.dequant(got, b)
		for i := range nb {
			ref := refDequantK(f.name, b[i*f.blockBytes:])
			for v, r := range ref {
				g := float64(got[i*SuperBlockSize+v])
				// Two float32 roundings of terms bounded by |d·sc·q| + |dmin·m|.
				if math.Abs(g-r) > 3*0x1p-24*(math.Abs(r)+1e-3*math.Abs(g)+magnitudeBound(f.name, b[i*f.blockBytes:])) {
					t.Fatalf("%s block %d value %d: %v, float64 reference %v", f.name, i, v, g, r)
				}
			}
		}
	}
}

// magnitudeBound bounds the terms of a block's formula: 63·15·|d| + 63·|dmin|
// (Q4_K; 31 for Q5_K), 128·63·|d| (Q6_K).
func magnitudeBound(name string, blk []byte) float64 {
	h := func(o int) float64 { return math.Abs(float64(halfToFloat32(binary.LittleEndian.Uint16(blk[o:])))) }
	if name == "Q6_K" {
		return 128 * 32 * h(208)
	}
	return 63*31*h(0) + 63*h(2)
}

// goldenKPath holds blocks and llama.cpp's dequantization of them
// (ggml-base's to_float from commit c392e50, the build in
// ../shared/tools/llama.cpp): for each format, uint32 block count, the
// blocks, then the float32 values.
const goldenKPath = "testdata/kquant-llamacpp.bin"

func goldenKBlocks(f kFormat) []byte {
	return randKBlocks(rand.New(rand.NewPCG(uint64(f.ggmlType), 99)), f, 16)
}

// TestKDequantMatchesLlamaCpp: Shear's dequantization is bit-identical to
// llama.cpp's on the stored blocks.
func TestKDequantMatchesLlamaCpp(t *testing.T) {
	data, err := os.ReadFile(goldenKPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range kFormats {
		nb := int(binary.LittleEndian.Uint32(data))
		blocks := data[4 : 4+nb*f.blockBytes]
		vals := data[4+nb*f.blockBytes : 4+nb*f.blockBytes+4*nb*SuperBlockSize]
		data = data[4+nb*f.blockBytes+4*nb*SuperBlockSize:]
		got := make([]float32, nb*SuperBlockSize)
		f.dequant(got, blocks)
		for i, g := range got {
			if want := binary.LittleEndian.Uint32(vals[4*i:]); math.Float32bits(g) != want {
				t.Fatalf("%s value %d: %v (%#x), llama.cpp %v (%#x)", f.name, i, g, math.Float32bits(g), math.Float32frombits(want), want)
			}
		}
	}
	if len(data) != 0 {
		t.Errorf("%d trailing bytes in %s", len(data), goldenKPath)
	}
}

// TestWriteKGolden regenerates goldenKPath with llama.cpp's to_float when
// SHEAR_KGOLDEN names the kgolden helper (a 15-line C program linked
// against libggml-base: it reads blocks of ggml type argv[1] on stdin and
// writes ggml_get_type_traits(type)->to_float's output).
func TestWriteKGolden(t *testing.T) {
	tool := os.Getenv("SHEAR_KGOLDEN")
	if tool == "" {
		t.Skip("SHEAR_KGOLDEN is not set")
	}
	var out bytes.Buffer
	for _, f := range kFormats {
		out.Write(goldenRecord(t, tool, f.ggmlType, goldenKBlocks(f), f.blockBytes, SuperBlockSize))
	}
	if err := os.MkdirAll(filepath.Dir(goldenKPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenKPath, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQuantizeQ8_K checks the activation quantizer: the codes reconstruct
// x within half a step, the first value of largest magnitude maps to
// ∓127 exactly, bsums are the sums of 16 codes, a zero block is all zero.
func TestQuantizeQ8_K(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const nb = 4
	x := make([]float32, nb*SuperBlockSize)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	clear(x[2*SuperBlockSize : 3*SuperBlockSize])
	q := make([]byte, RowBytesQ8_K(len(x)))
	QuantizeQ8_K(q, x)
	for i := range nb {
		blk := (*[Q8_KBlockBytes]byte)(q[i*Q8_KBlockBytes:])
		d := q8KScale(blk)
		xs := x[i*SuperBlockSize : (i+1)*SuperBlockSize]
		if i == 2 {
			if !bytes.Equal(blk[:], make([]byte, Q8_KBlockBytes)) {
				t.Errorf("zero block quantized to non-zero bytes")
			}
			continue
		}
		var amax float64
		for _, v := range xs {
			amax = max(amax, math.Abs(float64(v)))
		}
		if rel := math.Abs(math.Abs(float64(d))*127-amax) / amax; rel > 1e-6 {
			t.Errorf("block %d: |d|·127 = %v, max|x| = %v", i, math.Abs(float64(d))*127, amax)
		}
		for j, v := range xs {
			c := int8(blk[4+j])
			if e := math.Abs(float64(d)*float64(c) - float64(v)); e > 0.5*math.Abs(float64(d))*(1+1e-5) {
				t.Fatalf("block %d value %d: %v coded %d·%v", i, j, v, c, d)
			}
		}
		for g := range 16 {
			var s int
			for _, c := range blk[4+16*g : 4+16*g+16] {
				s += int(int8(c))
			}
			if b := int(int16(binary.LittleEndian.Uint16(blk[260+2*g:]))); b != s {
				t.Errorf("block %d bsum %d = %d, codes sum to %d", i, g, b, s)
			}
		}
	}
}

// TestMatMulK: every output of MatMulK (one and several activation rows,
// row counts around the tiles) is the dot kernel of its weight row with
// its activation row quantized to Q8_K, and it does not allocate.
func TestMatMulK(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, k := range []KType{Q4_K, Q5_K, Q6_K} {
		f := kFormats[k]
		for _, sh := range [][3]int{{1, 1, 256}, {1, 130, 768}, {3, 7, 512}, {5, 260, 256}} {
			n, rows, cols := sh[0], sh[1], sh[2]
			nb := cols / SuperBlockSize
			w := randKBlocks(rng, f, rows*nb)
			x := randRow(rng, n*cols, 0)
			xq := make([]byte, n*RowBytesQ8_K(cols))
			out := make([]float32, n*rows)
			MatMulK(k, out, x, w, n, rows, cols, xq)
			one := make([]byte, RowBytesQ8_K(cols))
			for i := range n {
				QuantizeQ8_K(one, x[i*cols:(i+1)*cols])
				for r := range rows {
					if want := f.generic(w[r*k.RowBytes(cols):], one, nb); !sameBits(out[i*rows+r], want) {
						t.Fatalf("%s %v: out[%d][%d] = %v, want %v", k, sh, i, r, out[i*rows+r], want)
					}
				}
			}
			if a := testing.AllocsPerRun(5, func() { MatMulK(k, out, x, w, n, rows, cols, xq) }); a != 0 {
				t.Errorf("%s %v: %v allocations per call", k, sh, a)
			}
		}
	}
}

// BenchmarkMatVecK reports the weight bytes read per second of MatMulK with
// one activation row (decode), next to BenchmarkMatVec's Q8_0 and Q4_0.
func BenchmarkMatVecK(b *testing.B) {
	const cols = 768
	for _, k := range []KType{Q4_K, Q5_K, Q6_K} {
		for _, rows := range []int{2048, 32000} {
			rng := rand.New(rand.NewPCG(1, 2))
			w := randKBlocks(rng, kFormats[k], rows*cols/SuperBlockSize)
			x := randRow(rng, cols, 0)
			xq := make([]byte, RowBytesQ8_K(cols))
			out := make([]float32, rows)
			b.Run(fmt.Sprintf("%s/%dx%d", k, rows, cols), func(b *testing.B) {
				for b.Loop() {
					MatMulK(k, out, x, w, 1, rows, cols, xq)
				}
				b.ReportMetric(float64(len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// TestKDotExtremeCodes: the largest codes and scales against x codes of
// -128 and 127 (where int16 pair sums come closest to saturating) give the
// portable kernels' bits.
func TestKDotExtremeCodes(t *testing.T) {
	const nb = 3
	for _, f := range kFormats {
		for _, wb := range []byte{0xff, 0x80, 0x7f, 0x00} {
			for _, xb := range []byte{0x80, 0x7f, 0x81} {
				w := bytes.Repeat([]byte{wb}, nb*f.blockBytes)
				for i := range nb {
					for _, o := range f.halves {
						binary.LittleEndian.PutUint16(w[i*f.blockBytes+o:], 0x3c00) // 1.0
					}
				}
				x := make([]byte, nb*Q8_KBlockBytes)
				for i := range nb {
					blk := x[i*Q8_KBlockBytes:]
					binary.LittleEndian.PutUint32(blk, math.Float32bits(0.5))
					for j := range SuperBlockSize {
						blk[4+j] = xb
					}
					for g := range 16 {
						binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(16*int16(int8(xb))))
					}
				}
				out := make([]float32, 1)
				f.rows(out, w, nb*f.blockBytes, x, nb)
				if want := f.generic(w, x, nb); !sameBits(out[0], want) {
					t.Errorf("%s w %#x x %#x: kernel %v, portable %v", f.name, wb, xb, out[0], want)
				}
			}
		}
	}
}

// goldenRecord runs the kgolden helper (tool) on blocks of ggml type typ
// and returns one record of a golden file: the uint32 block count, the
// blocks, then llama.cpp's float32 values (values per block).
func goldenRecord(t *testing.T, tool string, typ int, blocks []byte, blockBytes, values int) []byte {
	cmd := exec.Command(tool, strconv.Itoa(typ))
	cmd.Stdin = bytes.NewReader(blocks)
	vals, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	nb := len(blocks) / blockBytes
	if len(vals) != 4*nb*values {
		t.Fatalf("type %d: %d bytes from %s, want %d", typ, len(vals), tool, 4*nb*values)
	}
	rec := binary.LittleEndian.AppendUint32(nil, uint32(nb))
	return append(append(rec, blocks...), vals...)
}
