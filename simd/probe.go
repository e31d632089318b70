package simd

import (
	"runtime"
	"sync"
	"time"
)

// Machine probes: the two denominators performance figures are quoted
// against. Both run kernels built to reach the hardware's limit rather than
// Shear's own products, so a ratio to them says how far a kernel is from
// the machine, not from another Shear kernel.

// fmaProbeFMAs is the number of independent fused multiply-adds of one
// fmaLoop iteration. Twelve accumulators cover the FMA latency (4–5
// cycles) times the two FMA ports of current x86 cores with room to
// spare, so the loop is throughput-bound.
const fmaProbeFMAs = 12

// FMAPeak measures the float32 fused multiply-add peak in GFLOP/s of
// threads threads (threads <= 0: Threads()) running at once, the best of a
// few repetitions, with the widest FMA the machine has (FMALanes): on
// amd64 twelve independent vfmadd231ps accumulators per thread, 16-lane
// with AVX-512F, else 8-lane with AVX2+FMA; elsewhere the portable loop,
// which measures what the pure-Go code can reach, not the hardware.
func FMAPeak(threads int) float64 { return FMAPeakLanes(threads, FMALanes()) }

// FMALanes is the float32 lane count of the widest FMA FMAPeak uses: 16
// (AVX-512F), 8 (AVX2+FMA) or 1 (the portable loop).
func FMALanes() int { return fmaWidest() }

// FMAPeakLanes is FMAPeak with FMAs of the given lane count (16, 8 or 1),
// which must not exceed FMALanes(); otherwise it returns 0. It shows what
// a narrower kernel could reach at best, e.g. AVX2 on an AVX-512 machine.
func FMAPeakLanes(threads, lanes int) float64 {
	if threads <= 0 {
		threads = Threads()
	}
	if lanes > FMALanes() || (lanes != 16 && lanes != 8 && lanes != 1) {
		return 0
	}
	const iters = 1 << 21 // ≈ 0.4–0.8 GFLOP per thread, a few ms
	best := 0.0
	for range 7 {
		sec := runParallel(threads, func(int) { fmaLoop(lanes, iters, 0.5) })
		best = max(best, float64(threads)*iters*fmaProbeFMAs*float64(lanes)*2/sec/1e9)
	}
	return best
}

// ReadBandwidth measures the streaming read bandwidth in GB/s: threads
// threads (threads <= 0: Threads()) each read their own contiguous part of
// a freshly allocated buffer of the given size with independent 32-byte
// loads (eight accumulators, no dependency chain), the best of a few
// passes. The size should be far beyond the last-level cache (256 MiB is
// eight times this project's 32 MiB L3) so that the figure is DRAM's.
func ReadBandwidth(threads, bytes int) float64 {
	if threads <= 0 {
		threads = Threads()
	}
	part := bytes / threads &^ (readProbeStep - 1)
	if part <= 0 {
		return 0
	}
	buf := make([]byte, part*threads)
	for i := range buf { // fault the pages in, with data that is not all zero
		buf[i] = byte(i)
	}
	best := 0.0
	sink := make([]uint64, threads) // keeps each pass's result observable
	for range 5 {
		sec := runParallel(threads, func(t int) {
			sink[t] = readStream(buf[t*part : (t+1)*part])
		})
		best = max(best, float64(len(buf))/sec/1e9)
	}
	runtime.KeepAlive(sink)
	return best
}

// readProbeStep is the bytes one readStream iteration loads (eight 32-byte
// vectors); part sizes are multiples of it.
const readProbeStep = 256

// runParallel runs f(0..threads-1) on as many locked OS threads, started
// together, and returns the wall time from the common start to the last
// finish in seconds.
func runParallel(threads int, f func(t int)) float64 {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(threads)
	done.Add(threads)
	for t := range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-start
			f(t)
			done.Done()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0).Seconds()
}

// fmaLoopGeneric is the portable probe loop: twelve independent
// accumulators, each acc += a·a per iteration. It returns their sum so that
// the work is observable.
func fmaLoopGeneric(n int, a float32) float32 {
	var acc [12]float32
	for range n {
		for j := range acc {
			acc[j] += a * a
		}
	}
	var s float32
	for _, v := range acc {
		s += v
	}
	return s
}

// readStreamGeneric ORs together every 8-byte word of b (len(b) a multiple
// of readProbeStep) with eight independent accumulators.
func readStreamGeneric(b []byte) uint64 {
	var acc [8]uint64
	for i := 0; i < len(b); i += 64 {
		w := (*[64]byte)(b[i:])
		for j := range acc {
			acc[j] |= le64(w[8*j:])
		}
	}
	var s uint64
	for _, v := range acc {
		s |= v
	}
	return s
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
