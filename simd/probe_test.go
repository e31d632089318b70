package simd

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestFMAProbeComputes checks that the probe loop really does twelve
// lanes-wide a·a accumulations per iteration at every width the machine
// has: with a = 0.5 every partial sum is exact, so the result is known.
func TestFMAProbeComputes(t *testing.T) {
	widest := FMALanes()
	if useAsm && runtime.GOARCH == "amd64" && widest < 8 { // the AVX probe; elsewhere it is the portable loop
		t.Errorf("FMALanes() = %d with AVX2", widest)
	}
	for _, lanes := range []int{1, 8, 16} {
		if lanes > widest {
			if p := FMAPeakLanes(1, lanes); p != 0 {
				t.Errorf("FMAPeakLanes(1, %d) = %v beyond FMALanes() = %d, want 0", lanes, p, widest)
			}
			continue
		}
		for _, n := range []int{1, 7, 1000} {
			want := 12 * float32(lanes) * float32(n) * 0.25
			if got := fmaLoop(lanes, n, 0.5); got != want {
				t.Errorf("fmaLoop(%d, %d) = %v, want %v", lanes, n, got, want)
			}
		}
	}
	if got := fmaLoopGeneric(1000, 0.5); got != 12*1000*0.25 {
		t.Errorf("fmaLoopGeneric(1000) = %v", got)
	}
}

// TestReadProbeReadsEveryWord plants one bit in each word position in turn
// and checks that the streaming probe (assembly and portable) sees it, so
// no load is skipped.
func TestReadProbeReadsEveryWord(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 4*readProbeStep)
	for w := 0; w < len(b)/8; w++ {
		clear(b)
		bit := uint(r.IntN(64))
		b[8*w+int(bit/8)] = 1 << (bit % 8)
		for name, got := range map[string]uint64{"readStream": readStream(b), "generic": readStreamGeneric(b)} {
			if got != 1<<bit {
				t.Fatalf("%s: word %d bit %d: got %#x", name, w, bit, got)
			}
		}
	}
}

func TestProbesReportRates(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 32 MiB")
	}
	// Positive and finite, not fast: under qemu-aarch64 on a loaded
	// machine the portable FMA loop runs at ~0.04 GFLOP/s.
	if p := FMAPeak(1); !(p > 0) || math.IsInf(p, 0) {
		t.Errorf("FMAPeak(1) = %v GFLOP/s", p)
	}
	if bw := ReadBandwidth(2, 32<<20); !(bw > 0) || math.IsInf(bw, 0) {
		t.Errorf("ReadBandwidth = %v GB/s", bw)
	}
	if bw := ReadBandwidth(2, 100); bw != 0 {
		t.Errorf("ReadBandwidth on less than a step per thread = %v, want 0", bw)
	}
}

// BenchmarkFMAPeak and BenchmarkReadBandwidth report the machine references
// (GFLOP/s with 1 and all threads; GB/s over 256 MiB with 2 threads).
func BenchmarkFMAPeak(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(FMAPeak(1), "GFLOP/s-1thread")
		b.ReportMetric(FMAPeak(0), "GFLOP/s-all")
		if FMALanes() > 8 {
			b.ReportMetric(FMAPeakLanes(1, 8), "GFLOP/s-1thread-8lanes")
			b.ReportMetric(FMAPeakLanes(0, 8), "GFLOP/s-all-8lanes")
		}
	}
}
