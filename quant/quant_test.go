package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

func TestHalfToFloat32(t *testing.T) {
	for h := range 1 << 16 {
		got := halfToFloat32(uint16(h))
		want := float16.Frombits(uint16(h)).Float32()
		if math.IsNaN(float64(want)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("half %#04x: got %v, want NaN", h, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("half %#04x: got %v, want %v", h, got, want)
		}
	}
}

// The expected blocks were computed by a C program that follows ggml's
// quantize_row_q8_0_ref / quantize_row_q4_0_ref (roundf, the int8_t cast,
// F16C's _cvtss_sh for the scale).
var layoutRow = func() []float32 {
	x := make([]float32, 3*BlockSize)
	for j := range BlockSize {
		x[j] = float32(j-16) / 4     // max |x| is -4, at j = 0
		x[32+j] = -float32(j-16) / 4 // max |x| is +4, at j = 0
		s := float32(1)              // alternating signs, growing
		if j%2 == 0 {
			s = -1
		}
		x[64+j] = s * (0.5 + float32(j)*0.37)
	}
	return x
}()

func TestQ8_0Layout(t *testing.T) {
	type block struct {
		d  uint16
		qs [32]int8
	}
	want := []block{
		{0x2808, [32]int8{-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8, 0, 8, 16, 24, 32, 40, 48, 56, 64, 71, 79, 87, 95, 103, 111, 119}},
		{0x2808, [32]int8{127, 119, 111, 103, 95, 87, 79, 71, 64, 56, 48, 40, 32, 24, 16, 8, 0, -8, -16, -24, -32, -40, -48, -56, -64, -71, -79, -87, -95, -103, -111, -119}},
		{0x2e08, [32]int8{-5, 9, -13, 17, -21, 25, -29, 33, -37, 41, -45, 48, -52, 56, -60, 64, -68, 72, -76, 80, -84, 88, -92, 96, -100, 103, -107, 111, -115, 119, -123, 127}},
	}
	if got := RowBytesQ8_0(len(layoutRow)); got != 3*34 {
		t.Fatalf("RowBytesQ8_0(96) = %d", got)
	}
	dst := make([]byte, RowBytesQ8_0(len(layoutRow)))
	QuantizeQ8_0(dst, layoutRow)
	for b, w := range want {
		blk := dst[b*Q8_0BlockBytes:]
		if d := uint16(blk[0]) | uint16(blk[1])<<8; d != w.d {
			t.Errorf("block %d: d = %#04x, want %#04x", b, d, w.d)
		}
		for j, q := range w.qs {
			if int8(blk[2+j]) != q {
				t.Errorf("block %d: qs[%d] = %d, want %d", b, j, int8(blk[2+j]), q)
			}
		}
	}
	// -2 times 127/4 is -63.5: roundf goes away from zero.
	if q := int8(dst[2+8]); q != -64 {
		t.Errorf("half-way code = %d, want -64", q)
	}
}

func TestQ4_0Layout(t *testing.T) {
	type block struct {
		d  uint16
		qs [16]byte
	}
	want := []block{
		{0x3800, [16]byte{0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8}},
		{0xb800, [16]byte{0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8}},
		{0xbdfc, [16]byte{0xc8, 0x37, 0xd9, 0x37, 0xd9, 0x26, 0xea, 0x26, 0xea, 0x15, 0xfb, 0x15, 0xfb, 0x04, 0xfc, 0x04}},
	}
	if got := RowBytesQ4_0(len(layoutRow)); got != 3*18 {
		t.Fatalf("RowBytesQ4_0(96) = %d", got)
	}
	dst := make([]byte, RowBytesQ4_0(len(layoutRow)))
	QuantizeQ4_0(dst, layoutRow)
	for b, w := range want {
		blk := dst[b*Q4_0BlockBytes:]
		if d := uint16(blk[0]) | uint16(blk[1])<<8; d != w.d {
			t.Errorf("block %d: d = %#04x, want %#04x", b, d, w.d)
		}
		for j, q := range w.qs {
			if blk[2+j] != q {
				t.Errorf("block %d: qs[%d] = %#02x, want %#02x", b, j, blk[2+j], q)
			}
		}
	}
	// The value of largest magnitude comes back exactly, whatever its sign:
	// it gets code 0, and 0-8 times d = m/-8 is m.
	y := make([]float32, len(layoutRow))
	DequantizeQ4_0(y, dst)
	if y[0] != -4 || y[32] != 4 {
		t.Errorf("dequantized maxima = %v, %v; want -4, 4", y[0], y[32])
	}
}

func TestQ4_0SignOfMax(t *testing.T) {
	// Ties go to the first: m = +3, d = -3/8. The -3 scales to +8, gets
	// code trunc(16.5) = 16, clamped to 15, and comes back as 7d = -2.625.
	x := make([]float32, BlockSize)
	x[0], x[1], x[2] = 3, -3, 1.5
	blk := make([]byte, Q4_0BlockBytes)
	QuantizeQ4_0(blk, x)
	if d := half(blk); d != -0.375 {
		t.Fatalf("d = %v, want -0.375", d)
	}
	y := make([]float32, BlockSize)
	DequantizeQ4_0(y, blk)
	if y[0] != 3 || y[1] != -2.625 || y[2] != 1.5 || y[3] != 0 {
		t.Errorf("dequantized %v", y[:4])
	}
	// The other way round the negative value leads.
	x[0], x[1] = -3, 3
	QuantizeQ4_0(blk, x)
	if d := half(blk); d != 0.375 {
		t.Fatalf("d = %v, want 0.375", d)
	}
	DequantizeQ4_0(y, blk)
	if y[0] != -3 || y[1] != 2.625 {
		t.Errorf("dequantized %v", y[:2])
	}
}

func TestZeroBlock(t *testing.T) {
	x := make([]float32, 2*BlockSize)
	y := make([]float32, len(x))
	for i := range y {
		y[i] = 1
	}
	q8 := make([]byte, RowBytesQ8_0(len(x)))
	for i := range q8 {
		q8[i] = 0xff
	}
	QuantizeQ8_0(q8, x)
	for i, b := range q8 {
		if b != 0 {
			t.Fatalf("Q8_0 byte %d = %#x, want 0", i, b)
		}
	}
	DequantizeQ8_0(y, q8)
	for i, v := range y {
		if v != 0 {
			t.Fatalf("Q8_0 value %d = %v", i, v)
		}
	}
	q4 := make([]byte, RowBytesQ4_0(len(x)))
	QuantizeQ4_0(q4, x)
	for i, b := range q4 {
		// d = 0/-8 is -0, fp16 0x8000, as in ggml; code 8 in both nibbles.
		want := byte(0x88)
		switch i % Q4_0BlockBytes {
		case 0:
			want = 0
		case 1:
			want = 0x80
		}
		if b != want {
			t.Fatalf("Q4_0 byte %d = %#x, want %#x", i, b, want)
		}
	}
	for i := range y {
		y[i] = 1
	}
	DequantizeQ4_0(y, q4)
	for i, v := range y {
		if v != 0 {
			t.Fatalf("Q4_0 value %d = %v", i, v)
		}
	}
}

// randRow draws n values of one of several shapes: plain normal, normal
// with a few outliers, uniform, and tiny values whose fp16 scale is
// subnormal or zero.
func randRow(rng *rand.Rand, n int, shape int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch shape % 4 {
		case 0:
			x[i] = float32(rng.NormFloat64())
		case 1:
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(50) == 0 {
				x[i] *= 40
			}
		case 2:
			x[i] = float32(rng.Float64()*2 - 1)
		case 3:
			x[i] = float32(rng.NormFloat64() * 1e-6)
		}
	}
	return x
}

// The codes are chosen with the float32 scale d; the stored fp16 scale
// differs by up to 2^-11 relatively (more when subnormal), and that error is
// multiplied by the code. So the bound is the rounding error of the code,
// d/2 for Q8_0 and |d| for Q4_0 (whose codes are clamped at 15), plus
// |code|·|d - fp16(d)|.
func TestRoundTripError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for shape := range 4 {
		x := randRow(rng, 64*BlockSize, shape)
		q8 := make([]byte, RowBytesQ8_0(len(x)))
		q4 := make([]byte, RowBytesQ4_0(len(x)))
		y := make([]float32, len(x))
		QuantizeQ8_0(q8, x)
		DequantizeQ8_0(y, q8)
		for b := range len(x) / BlockSize {
			blk := x[b*BlockSize : (b+1)*BlockSize]
			var amax float32
			for _, v := range blk {
				amax = max(amax, absf(v))
			}
			d := float64(amax / 127)
			d16 := float64(half(q8[b*Q8_0BlockBytes:]))
			bound := d/2 + 127*math.Abs(d-d16) + 1e-6*d
			for j, v := range blk {
				if e := math.Abs(float64(v) - float64(y[b*BlockSize+j])); e > bound {
					t.Errorf("Q8_0 shape %d block %d [%d]: %v -> %v, error %g > %g", shape, b, j, v, y[b*BlockSize+j], e, bound)
				}
			}
		}
		QuantizeQ4_0(q4, x)
		DequantizeQ4_0(y, q4)
		for b := range len(x) / BlockSize {
			blk := x[b*BlockSize : (b+1)*BlockSize]
			var amax, m float32
			for _, v := range blk {
				if amax < absf(v) {
					amax, m = absf(v), v
				}
			}
			d := math.Abs(float64(m / -8))
			d16 := math.Abs(float64(half(q4[b*Q4_0BlockBytes:])))
			bound := d + 8*math.Abs(d-d16) + 1e-6*d
			for j, v := range blk {
				if e := math.Abs(float64(v) - float64(y[b*BlockSize+j])); e > bound {
					t.Errorf("Q4_0 shape %d block %d [%d]: %v -> %v, error %g > %g", shape, b, j, v, y[b*BlockSize+j], e, bound)
				}
			}
		}
	}
}

func TestBadSizesPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"RowBytes":  func() { RowBytesQ8_0(33) },
		"Quantize":  func() { QuantizeQ4_0(make([]byte, 100), make([]float32, 40)) },
		"ShortDst":  func() { QuantizeQ8_0(make([]byte, 33), make([]float32, 32)) },
		"ShortW":    func() { DotQ8_0(make([]byte, 34), make([]byte, 68), 2) },
		"MatVecXq":  func() { MatVecQ8_0(make([]float32, 1), make([]byte, 34), make([]float32, 32), 1, 32, make([]byte, 10)) },
		"MatVecOut": func() { MatVecQ4_0(make([]float32, 1), make([]byte, 36), make([]float32, 32), 2, 32, make([]byte, 34)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func absf(v float32) float32 { return float32(math.Abs(float64(v))) }

func TestRoundAway(t *testing.T) {
	check := func(v float32) {
		t.Helper()
		if got, want := roundAway(v), int32(math.Round(float64(v))); got != want {
			t.Fatalf("roundAway(%v) = %d, want %d", v, got, want)
		}
	}
	for i := -300; i <= 300; i++ {
		h := float32(i) / 2 // integers and exact halves
		check(h)
		check(math.Nextafter32(h, 1000))
		check(math.Nextafter32(h, -1000))
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 100000 {
		check(float32(rng.NormFloat64() * 50))
		check(float32(rng.NormFloat64() * 1e-3))
	}
	check(127.00001)
	check(-127.00001)
}

// TestQuantizeQ8_0Kernel checks the quantizer in use (assembly on amd64)
// against the portable one, byte for byte.
func TestQuantizeQ8_0Kernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for shape := range 8 {
		x := randRow(rng, 257*BlockSize, shape)
		if shape >= 4 { // exact halves of the code grid, zero blocks, huge values
			for i := range x {
				x[i] = float32(rng.IntN(255)-127) / 2 * float32(math.Pow(2, float64(shape-6)*20))
				if i/BlockSize%7 == 3 {
					x[i] = 0
				}
			}
		}
		got := make([]byte, RowBytesQ8_0(len(x)))
		want := make([]byte, len(got))
		QuantizeQ8_0(got, x)
		quantizeQ8_0Generic(want, x, len(x)/BlockSize)
		for i := range got {
			if got[i] != want[i] {
				b := i / Q8_0BlockBytes
				t.Fatalf("shape %d block %d byte %d: %#x, portable %#x; block %v", shape, b, i%Q8_0BlockBytes, got[i], want[i], x[b*BlockSize:(b+1)*BlockSize])
			}
		}
	}
}
