package simd

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// panicOnCaller panics in the chunks the calling goroutine runs (its stack
// holds ParallelFor; a helper's does not) and sleeps in the helpers', so
// that helpers are still working when the caller's panic unwinds.
type panicOnCaller struct {
	running, done atomic.Int32
}

func (p *panicOnCaller) Run(lo, hi int) {
	buf := make([]byte, 4096)
	if bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("simd.ParallelFor(")) {
		for start := time.Now(); p.running.Load() == 0 && time.Since(start) < time.Second; {
			runtime.Gosched() // until a helper is inside the job
		}
		panic("bad arguments")
	}
	p.running.Add(1)
	time.Sleep(20 * time.Millisecond)
	p.done.Add(int32(hi - lo))
	p.running.Add(-1)
}

// TestParallelForPanicWaitsForHelpers (issue 17: the race `go test -race`
// reported in wasm/host): a task panicking on the caller's goroutine
// reaches the caller only after every helper has left the job, and the
// pool then runs the next job correctly.
func TestParallelForPanicWaitsForHelpers(t *testing.T) {
	if getPool().workers < 2 {
		t.Skip("one thread: no helpers")
	}
	for range 5 {
		task := &panicOnCaller{}
		func() {
			defer func() {
				if r := recover(); r != "bad arguments" {
					t.Fatalf("recovered %v", r)
				}
				if n := task.running.Load(); n != 0 {
					t.Fatalf("the panic reached the caller while %d helpers still ran the job", n)
				}
			}()
			ParallelFor(256, 1, task)
		}()
		c := &countTask{hits: make([]atomic.Int32, 1000)}
		ParallelFor(len(c.hits), 1, c)
		for i := range c.hits {
			if h := c.hits[i].Load(); h != 1 {
				t.Fatalf("after the panic, index %d ran %d times", i, h)
			}
		}
	}
}
