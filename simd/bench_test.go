package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/viterin/vek/vek32"
	"github.com/x448/float16"
)

// Benchmarks report GFLOP/s (2 flops per multiply-add), GB/s of weights
// read, or G values/s. BenchmarkReadBandwidth (simd.ReadBandwidth) is the
// machine's streaming read rate that memory-bound kernels are quoted
// against, and BenchmarkFMAPeak (simd.FMAPeak) the FMA peak the products
// are quoted against.

func reportFlops(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func reportBytes(b *testing.B, bytes float64) {
	b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{768, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, y := randSlice(r, n), randSlice(r, n)
			var s float32
			for b.Loop() {
				s += Dot(x, y)
			}
			reportFlops(b, 2*float64(n))
		})
	}
}

var mvShapes = []struct{ rows, cols int }{{768, 768}, {2048, 768}, {32000, 288}}

func BenchmarkMatVec(b *testing.B) {
	for _, sh := range mvShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			w, x, out := randSlice(r, sh.rows*sh.cols), randSlice(r, sh.cols), make([]float32, sh.rows)
			for b.Loop() {
				MatVec(out, w, x, sh.rows, sh.cols)
			}
			reportFlops(b, 2*float64(sh.rows*sh.cols))
			reportBytes(b, 4*float64(sh.rows*sh.cols))
		})
	}
}

func BenchmarkMatVecF16(b *testing.B) {
	for _, sh := range mvShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 3))
			w, x, out := randHalf(r, sh.rows*sh.cols), randSlice(r, sh.cols), make([]float32, sh.rows)
			for b.Loop() {
				MatVecF16(out, w, x, sh.rows, sh.cols)
			}
			reportFlops(b, 2*float64(sh.rows*sh.cols))
			reportBytes(b, 2*float64(sh.rows*sh.cols))
		})
	}
}

// BenchmarkDecode110MF16 runs every matrix-vector product of one decoded
// token of a stories110M-shaped model (dim 768, hidden 2048, 12 layers,
// vocab 32000) with f16 weights: 219 MB of weights, far more than the
// caches, so GB/s here is comparable with BenchmarkReadBandwidth.
func BenchmarkDecode110MF16(b *testing.B) {
	if testing.Short() {
		b.Skip("allocates 219 MB")
	}
	const dim, hidden, layers, vocab = 768, 2048, 12, 32000
	type mat struct {
		w          []uint16
		rows, cols int
	}
	r := rand.New(rand.NewPCG(1, 4))
	var mats []mat
	var bytes float64
	add := func(rows, cols int) {
		w := make([]uint16, rows*cols)
		for i := range w {
			w[i] = uint16(r.Uint32()&0x3fff | 0x2000) // small finite halves
		}
		mats = append(mats, mat{w, rows, cols})
		bytes += 2 * float64(rows*cols)
	}
	for l := 0; l < layers; l++ {
		add(dim, dim)
		add(dim, dim)
		add(dim, dim)
		add(dim, dim)
		add(hidden, dim)
		add(hidden, dim)
		add(dim, hidden)
	}
	add(vocab, dim)
	x, out := randSlice(r, hidden), make([]float32, vocab)
	b.ResetTimer()
	for b.Loop() {
		for _, m := range mats {
			MatVecF16(out, m.w, x, m.rows, m.cols)
		}
	}
	reportBytes(b, bytes)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// n = 128 is prefill's default batch: 128 % 3 = 2 of its rows per block run
// on the 1x4 tail kernel, which once took half the time (its prefetch ran
// past the panel; see prefetchAhead).
var mmShapesBench = []shape{{256, 768, 768}, {128, 768, 768}, {64, 2048, 768}}

// mmShapesTiled adds the down projection of a 110M block, whose 2048 cols
// are tiled.
var mmShapesTiled = append(mmShapesBench[:len(mmShapesBench):len(mmShapesBench)], shape{64, 768, 2048})

func BenchmarkMatMul(b *testing.B) {
	for _, sh := range mmShapesTiled {
		b.Run(fmt.Sprintf("n%d_%dx%d", sh.n, sh.rows, sh.cols), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, 1))
			x, w, out := randSlice(r, sh.n*sh.cols), randSlice(r, sh.rows*sh.cols), make([]float32, sh.n*sh.rows)
			for b.Loop() {
				MatMul(out, x, w, sh.n, sh.rows, sh.cols)
			}
			reportFlops(b, 2*float64(sh.n*sh.rows*sh.cols))
		})
	}
}

func BenchmarkMatMulF16(b *testing.B) {
	for _, sh := range mmShapesTiled {
		b.Run(fmt.Sprintf("n%d_%dx%d", sh.n, sh.rows, sh.cols), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, 2))
			x, w, out := randSlice(r, sh.n*sh.cols), randHalf(r, sh.rows*sh.cols), make([]float32, sh.n*sh.rows)
			for b.Loop() {
				MatMulF16(out, x, w, sh.n, sh.rows, sh.cols)
			}
			reportFlops(b, 2*float64(sh.n*sh.rows*sh.cols))
		})
	}
}

// BenchmarkVekMatMul is vek32.MatMul (x[m×k]·y[k×p]), for comparison,
// at 288³ and at the shapes of BenchmarkMatMul (m = n, k = cols, p = rows).
func BenchmarkVekMatMul(b *testing.B) {
	for _, sh := range append([]shape{{288, 288, 288}}, mmShapesBench...) {
		b.Run(fmt.Sprintf("n%d_%dx%d", sh.n, sh.rows, sh.cols), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, 3))
			x, y, out := randSlice(r, sh.n*sh.cols), randSlice(r, sh.cols*sh.rows), make([]float32, sh.n*sh.rows)
			for b.Loop() {
				vek32.MatMul_Into(out, x, y, sh.cols)
			}
			reportFlops(b, 2*float64(sh.n*sh.rows*sh.cols))
		})
	}
}

func BenchmarkMatMulBack(b *testing.B) {
	n, rows, cols := 64, 2048, 768
	r := rand.New(rand.NewPCG(2, 4))
	dy, w, x := randSlice(r, n*rows), randSlice(r, rows*cols), randSlice(r, n*cols)
	wh := randHalf(r, rows*cols)
	dx, dw := make([]float32, n*cols), make([]float32, rows*cols)
	flops := 2 * float64(n*rows*cols)
	b.Run("In_n64_2048x768", func(b *testing.B) {
		for b.Loop() {
			MatMulBackIn(dx, dy, w, n, rows, cols)
		}
		reportFlops(b, flops)
	})
	b.Run("InF16_n64_2048x768", func(b *testing.B) {
		for b.Loop() {
			MatMulBackInF16(dx, dy, wh, n, rows, cols)
		}
		reportFlops(b, flops)
	})
	b.Run("W_n64_2048x768", func(b *testing.B) {
		for b.Loop() {
			MatMulBackW(dw, dy, x, n, rows, cols)
		}
		reportFlops(b, flops)
	})
}

func BenchmarkF16ToF32(b *testing.B) {
	const n = 1 << 16
	src := randHalf(rand.New(rand.NewPCG(2, 6)), n) // weight-like: normal numbers
	dst := make([]float32, n)
	b.Run("simd", func(b *testing.B) {
		for b.Loop() {
			F16ToF32(dst, src)
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
	})
	b.Run("x448", func(b *testing.B) {
		for b.Loop() {
			for i, h := range src {
				dst[i] = float16.Frombits(h).Float32()
			}
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
	})
}

func BenchmarkF32ToF16(b *testing.B) {
	const n = 1 << 16
	r := rand.New(rand.NewPCG(2, 5))
	src, dst := randSlice(r, n), make([]uint16, n)
	b.Run("simd", func(b *testing.B) {
		for b.Loop() {
			F32ToF16(dst, src)
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
	})
	b.Run("x448", func(b *testing.B) {
		for b.Loop() {
			for i, f := range src {
				dst[i] = float16.Fromfloat32(f).Bits()
			}
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
	})
}

// BenchmarkReadBandwidth is the machine's streaming read bandwidth:
// ReadBandwidth's independent AVX2 loads on two threads over 256 MiB.
func BenchmarkReadBandwidth(b *testing.B) {
	if testing.Short() {
		b.Skip("allocates 256 MiB")
	}
	for b.Loop() {
		b.ReportMetric(ReadBandwidth(2, 256<<20), "GB/s")
	}
}

type nopTask struct{}

func (nopTask) Run(lo, hi int) {}

// BenchmarkParallelFor measures the pool's fixed cost per call.
func BenchmarkParallelFor(b *testing.B) {
	var t nopTask
	for b.Loop() {
		ParallelFor(64, 1, t)
	}
}

func BenchmarkSiLU(b *testing.B) {
	x := randSlice(rand.New(rand.NewPCG(2, 7)), 2048)
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		SiLU(y)
	}
	b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
}

func BenchmarkSoftmax(b *testing.B) {
	x := randSlice(rand.New(rand.NewPCG(2, 8)), 32000)
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		Softmax(y)
	}
	b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gval/s")
}
