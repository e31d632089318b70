package simd

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countTask struct{ hits []atomic.Int32 }

func (t *countTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		t.hits[i].Add(1)
	}
}

func TestParallelForCoversOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 1000, 4097} {
		for _, grain := range []int{0, 1, 3, 100} {
			ct := &countTask{hits: make([]atomic.Int32, n)}
			ParallelFor(n, grain, ct)
			for i := range ct.hits {
				if h := ct.hits[i].Load(); h != 1 {
					t.Fatalf("n=%d grain=%d: index %d run %d times", n, grain, i, h)
				}
			}
		}
		// Let the helpers park, then call again: the wake-up path.
		time.Sleep(2 * spinTime)
	}
}

// TestConcurrentCallers runs products from several goroutines at once (all
// but one run inline) and checks them against a serial run.
func TestConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	n, rows, cols := 9, 70, 130
	x, w, wh := randSlice(r, n*cols), randSlice(r, rows*cols), randHalf(r, rows*cols)
	run := func() []float32 {
		out := make([]float32, n*rows+rows+n*cols)
		MatMul(out[:n*rows], x, w, n, rows, cols)
		MatVecF16(out[n*rows:n*rows+rows], wh, x, rows, cols)
		MatMulBackInF16(out[n*rows+rows:], out[:n*rows], wh, n, rows, cols)
		return out
	}
	want := run()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 20; it++ {
				got := run()
				for i := range got {
					if got[i] != want[i] {
						errs <- "concurrent result differs from serial"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
