package simd

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestFMAProbeComputes checks that the probe loop really does twelve
// 8-lane (or twelve scalar, portably) a·a accumulations per iteration:
// with a = 0.5 every partial sum is exact, so the result is known.
func TestFMAProbeComputes(t *testing.T) {
	for _, n := range []int{1, 7, 1000} {
		lanes := float32(1)
		if useAsm && runtime.GOARCH == "amd64" { // the AVX probe; elsewhere it is the portable loop
			lanes = 8
		}
		want := 12 * lanes * float32(n) * 0.25
		if got := fmaLoop(n, 0.5); got != want {
			t.Errorf("fmaLoop(%d) = %v, want %v", n, got, want)
		}
		if got := fmaLoopGeneric(n, 0.5); got != 12*float32(n)*0.25 {
			t.Errorf("fmaLoopGeneric(%d) = %v", n, got)
		}
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
	if p := FMAPeak(1); !(p > 0.1) {
		t.Errorf("FMAPeak(1) = %v GFLOP/s", p)
	}
	if bw := ReadBandwidth(2, 32<<20); !(bw > 0.1) {
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
	}
}
