package simd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// TestF16ToF32Exhaustive converts all 65,536 halves on both paths and
// compares the bits with x448/float16.
func TestF16ToF32Exhaustive(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	forPaths(t, func(t *testing.T) {
		// Odd offsets and lengths exercise the vector body and the tail.
		for _, off := range []int{0, 3} {
			s := src[off:]
			dst := make([]float32, len(s))
			F16ToF32(dst, s)
			for i, h := range s {
				want := math.Float32bits(float16.Frombits(h).Float32())
				if got := math.Float32bits(dst[i]); got != want {
					t.Fatalf("half %#04x: got %#08x, want %#08x", h, got, want)
				}
			}
		}
	})
	for i := range src {
		h := uint16(i)
		if math.Float32bits(halfToFloat(h)) != math.Float32bits(float16.Frombits(h).Float32()) {
			t.Fatalf("halfToFloat(%#04x)", h)
		}
	}
}

// f32Specials are float32 bit patterns at the edges of the conversion.
func f32Specials() []uint32 {
	s := []uint32{
		0, 0x80000000, // ±0
		0x7f800000, 0xff800000, // ±Inf
		0x7fc00000, 0xffc00000, // quiet NaN
		0x7f800001, 0xff800001, // signalling NaN, smallest payload
		0x7fa00000, 0x7f802000, 0x7f801fff, 0x7fffffff, 0xffffffff, // payloads
		0x7fbfffff, 0x7fc00001, 0x7fe00000, 0x7f900000,
		0x00000001, 0x807fffff, // float32 subnormals
		0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, // around 65504 / overflow
		0xc77ff000, 0x7f7fffff, 0xff7fffff, // overflow to -Inf, max float
		0x38800000, 0x387fe000, 0x387ff000, // smallest normal half and below
		0x33800000, 0x33000000, 0x33000001, 0x32ffffff, 0x33c00000, // smallest subnormal half, ties
		0x3f801000, 0x3f803000, 0x3f800fff, 0x3f801001, // ties to even at 1.0
		0x3f800001, 0x3fffffff, 0x3f7fffff,
	}
	// Every exponent with tie, near-tie and round patterns in the mantissa.
	for e := uint32(0); e < 256; e++ {
		for _, m := range []uint32{0, 1, 0x1000, 0x0fff, 0x1001, 0x3000, 0x2000, 0x7fffff, 0x7ff000, 0x400000} {
			s = append(s, e<<23|m, 1<<31|e<<23|m)
		}
	}
	return s
}

func TestF32ToF16(t *testing.T) {
	bits := f32Specials()
	r := rand.New(rand.NewPCG(13, 14))
	for len(bits) < 1<<20 {
		bits = append(bits, r.Uint32())
	}
	// All halves round-trip, and their midpoints are ties.
	for h := 0; h < 1<<16; h++ {
		f := math.Float32bits(float16.Frombits(uint16(h)).Float32())
		bits = append(bits, f, f+0x1000, f-0x1000, f+0xfff, f+0x1001)
	}
	src := make([]float32, len(bits))
	for i, b := range bits {
		src[i] = math.Float32frombits(b)
	}
	forPaths(t, func(t *testing.T) {
		for _, off := range []int{0, 5} {
			s := src[off:]
			dst := make([]uint16, len(s))
			F32ToF16(dst, s)
			for i, f := range s {
				if want := float16.Fromfloat32(f).Bits(); dst[i] != want {
					t.Fatalf("float %#08x: got %#04x, want %#04x", math.Float32bits(f), dst[i], want)
				}
			}
		}
	})
}
