package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/simd"
)

var finiteTypes = []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0}

// kTypes are the K-quants, whose super-blocks hold their f16 scales at
// different offsets (checked by TestFirstNonFiniteKQuants and the fuzzer).
var kTypes = []gguf.TensorType{gguf.Q4_K, gguf.Q5_K, gguf.Q6_K}

// legacyTypes are the read-only 32-value types, with scales d (and m).
var legacyTypes = []gguf.TensorType{gguf.Q4_1, gguf.Q5_0, gguf.Q5_1}

// kDequant decodes whole super-blocks of a K-quant type.
func kDequant(typ gguf.TensorType, raw []byte) []float32 {
	bb, dq := map[gguf.TensorType]int{gguf.Q4_K: quant.Q4_KBlockBytes, gguf.Q5_K: quant.Q5_KBlockBytes, gguf.Q6_K: quant.Q6_KBlockBytes}[typ],
		map[gguf.TensorType]func([]float32, []byte){gguf.Q4_K: quant.DequantizeQ4_K, gguf.Q5_K: quant.DequantizeQ5_K, gguf.Q6_K: quant.DequantizeQ6_K}[typ]
	v := make([]float32, len(raw)/bb*quant.SuperBlockSize)
	dq(v, raw[:len(raw)/bb*bb])
	return v
}

// referenceFirstNonFinite decodes every element to float32 with the
// library's decoders and tests it with math.IsNaN / math.IsInf.
func referenceFirstNonFinite(typ gguf.TensorType, raw []byte) int {
	var v []float32
	switch typ {
	case gguf.F32:
		for i := 0; i+4 <= len(raw); i += 4 {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
	case gguf.F16:
		h := make([]uint16, len(raw)/2)
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		v = make([]float32, len(h))
		simd.F16ToF32(v, h)
	case gguf.BF16:
		for i := 0; i+2 <= len(raw); i += 2 {
			v = append(v, math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[i:]))<<16))
		}
	case gguf.Q8_0, gguf.Q4_0:
		bb := quant.RowBytesQ8_0(quant.BlockSize)
		if typ == gguf.Q4_0 {
			bb = quant.RowBytesQ4_0(quant.BlockSize)
		}
		raw = raw[:len(raw)/bb*bb]
		v = make([]float32, len(raw)/bb*quant.BlockSize)
		if typ == gguf.Q8_0 {
			quant.DequantizeQ8_0(v, raw)
		} else {
			quant.DequantizeQ4_0(v, raw)
		}
	case gguf.Q4_K, gguf.Q5_K, gguf.Q6_K:
		v = kDequant(typ, raw)
	case gguf.Q4_1, gguf.Q5_0, gguf.Q5_1:
		bb := map[gguf.TensorType]int{gguf.Q4_1: quant.Q4_1BlockBytes, gguf.Q5_0: quant.Q5_0BlockBytes, gguf.Q5_1: quant.Q5_1BlockBytes}[typ]
		raw = raw[:len(raw)/bb*bb]
		v = make([]float32, len(raw)/bb*quant.BlockSize)
		map[gguf.TensorType]func([]float32, []byte){gguf.Q4_1: quant.DequantizeQ4_1, gguf.Q5_0: quant.DequantizeQ5_0, gguf.Q5_1: quant.DequantizeQ5_1}[typ](v, raw)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// finiteBytes is n random bytes whose every value is finite: exponent
// bytes are cleared of their top bit where needed.
func finiteBytes(typ gguf.TensorType, n int, rng *rand.Rand) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	switch typ {
	case gguf.F32:
		for i := 3; i < n; i += 4 {
			b[i] &^= 0x40 // exponent < 0xFF
		}
	case gguf.F16, gguf.BF16:
		for i := 1; i < n; i += 2 {
			b[i] &^= 0x40
		}
	case gguf.Q8_0, gguf.Q4_0:
		bb := 34
		if typ == gguf.Q4_0 {
			bb = 18
		}
		for i := 1; i < n; i += bb {
			b[i] &^= 0x40
		}
	}
	return b
}

// TestFirstNonFinite: the word-at-a-time check agrees with decoding every
// element, for every type, with NaN/Inf planted at every kind of position
// (inside a chunk, at a chunk edge, in the tail after the last whole word).
func TestFirstNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bad := map[gguf.TensorType][][]byte{
		gguf.F32:  {{0, 0, 0x80, 0x7f}, {0, 0, 0x80, 0xff}, {1, 0, 0xc0, 0x7f}},
		gguf.F16:  {{0, 0x7c}, {0, 0xfc}, {1, 0x7e}},
		gguf.BF16: {{0x80, 0x7f}, {0x80, 0xff}, {0xc1, 0x7f}},
		gguf.Q8_0: {{0, 0x7c}, {0, 0xfe}},
		gguf.Q4_0: {{0, 0x7c}, {3, 0xfc}},
	}
	for _, typ := range finiteTypes {
		for _, n := range []int{0, 2, 4, 6, 34, 36, 510, 512, 514, 1030, 34 * 40, 18 * 70, 4094, 4096, 4104, 34 * 250} {
			raw := finiteBytes(typ, n, rng)
			if got, want := FirstNonFinite(typ, raw), referenceFirstNonFinite(typ, raw); got != want || got != -1 {
				t.Fatalf("%s n=%d finite: got %d, reference %d", typ, n, got, want)
			}
			elem := 4
			switch typ {
			case gguf.F16, gguf.BF16:
				elem = 2
			case gguf.Q8_0:
				elem = 34
			case gguf.Q4_0:
				elem = 18
			}
			for _, pat := range bad[typ] {
				for pos := 0; pos+elem <= n; pos += elem * (1 + rng.IntN(31)) {
					b := append([]byte(nil), raw...)
					copy(b[pos:], pat)
					got, want := FirstNonFinite(typ, b), referenceFirstNonFinite(typ, b)
					if got != want || got < 0 {
						t.Fatalf("%s n=%d bad %x at byte %d: got %d, reference %d", typ, n, pat, pos, got, want)
					}
				}
			}
		}
	}
}

// FuzzFirstNonFinite: on any bytes, the fast check and decoding agree.
func FuzzFirstNonFinite(f *testing.F) {
	f.Add(uint8(0), []byte{0, 0, 0x80, 0x7f})
	f.Add(uint8(1), []byte{1, 2, 3, 4, 0, 0x7c})
	f.Add(uint8(3), make([]byte, 68))
	f.Add(uint8(5), make([]byte, 2*quant.Q4_KBlockBytes))
	f.Add(uint8(7), make([]byte, quant.Q6_KBlockBytes))
	all := append(append(append([]gguf.TensorType(nil), finiteTypes...), kTypes...), legacyTypes...)
	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		typ := all[int(k)%len(all)]
		if got, want := FirstNonFinite(typ, raw), referenceFirstNonFinite(typ, raw); got != want {
			t.Fatalf("%s %x: got %d, reference %d", typ, raw, got, want)
		}
	})
}

// TestFirstNonFiniteKQuants (issue 17 item 3, K-quants): a NaN or ±Inf in
// any f16 scale of a Q4_K, Q5_K or Q6_K super-block (d, and dmin for Q4_K
// and Q5_K), or of a Q4_1, Q5_0 or Q5_1 block (d, and m), is found, at the block's first element, in agreement with
// decoding; the error names the tensor, the scale and the block. Random
// codes and sub-block scales with finite f16 scales are finite.
func TestFirstNonFiniteKQuants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range append(append([]gguf.TensorType(nil), kTypes...), legacyTypes...) {
		l := scaledBlocks[typ]
		const nb = 7
		raw := make([]byte, nb*l.bytes)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		for b := range nb {
			for _, o := range l.scales {
				raw[b*l.bytes+o+1] &^= 0x40 // a finite f16
			}
		}
		if got, want := FirstNonFinite(typ, raw), referenceFirstNonFinite(typ, raw); got != -1 || want != -1 {
			t.Fatalf("%s finite: got %d, reference %d", typ, got, want)
		}
		for _, o := range l.scales {
			for _, bad := range []uint16{0x7c00, 0xfc00, 0x7e01} {
				b := append([]byte(nil), raw...)
				blk := 2 + rng.IntN(nb-2)
				binary.LittleEndian.PutUint16(b[blk*l.bytes+o:], bad)
				got, want := FirstNonFinite(typ, b), referenceFirstNonFinite(typ, b)
				if got != want || got != blk*l.values {
					t.Errorf("%s %#x at offset %d of block %d: got %d, reference %d", typ, bad, o, blk, got, want)
				}
				err := CheckFinite("blk.1.ffn_down.weight", typ, b)
				if err == nil || !strings.Contains(err.Error(), "blk.1.ffn_down.weight") ||
					!strings.Contains(err.Error(), fmt.Sprintf("of %s block %d", typ, blk)) {
					t.Errorf("%s: error %v", typ, err)
				}
			}
		}
	}
}

func TestCheckFiniteNamesTensor(t *testing.T) {
	raw := make([]byte, 34*3)
	raw[34*2+1] = 0x7e // NaN scale in block 2
	err := CheckFinite("blk.0.attn_q.weight", gguf.Q8_0, raw)
	if err == nil || !strings.Contains(err.Error(), `"blk.0.attn_q.weight"`) || !strings.Contains(err.Error(), "block 2") || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("error %v", err)
	}
	m, _ := New(2, 32, make([]float32, 64), F16)
	m.F16[33] = 0x7c00
	if err := m.CheckFinite("w"); err == nil || !strings.Contains(err.Error(), "element 33 is +Inf") {
		t.Errorf("F16 matrix: error %v", err)
	}
}

// BenchmarkFirstNonFinite: bytes per second of the check (compare with the
// file read and decoding a load does anyway).
func BenchmarkFirstNonFinite(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range finiteTypes {
		raw := finiteBytes(typ, 34*(1<<15), rng)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if FirstNonFinite(typ, raw) >= 0 {
					b.Fatal("non-finite")
				}
			}
		})
	}
}

// TestNewRefusesWhatDoesNotFit: finite float32 values beyond a storage
// type's range become Inf there (f16 above 65504; a Q8_0 block whose
// maximum exceeds 127·65504, a Q4_0 block above 8·65504): New refuses
// them, and accepts the largest values that fit.
func TestNewRefusesWhatDoesNotFit(t *testing.T) {
	for _, c := range []struct {
		dt       DType
		fits, no float32
	}{
		{F32, math.MaxFloat32, float32(math.NaN())},
		{F16, 65504, 65520},
		{Q8_0, 127 * 65504, 127 * 65536},
		{Q4_0, 8 * 65504, 8 * 65536},
	} {
		data := make([]float32, 64)
		data[40] = c.fits
		if _, err := New(2, 32, data, c.dt); err != nil {
			t.Errorf("%s: %g refused: %v", c.dt, c.fits, err)
		}
		data[40] = c.no
		if _, err := New(2, 32, data, c.dt); err == nil || !strings.Contains(err.Error(), "not finite stored as "+c.dt.String()) {
			t.Errorf("%s: %g: error %v", c.dt, c.no, err)
		}
	}
}
