package simd

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolHandOffStress makes many short ParallelFor calls, with pauses
// that let the helpers park between some of them, and checks that every
// call returns only after each of its indices ran exactly once. Under
// -race it also checks the job hand-off: a call that returned while a
// helper still worked on it showed as a race on the job fields.
func TestPoolHandOffStress(t *testing.T) {
	if getPool().workers < 2 {
		t.Skip("one thread: no helpers")
	}
	calls := 20000
	if testing.Short() {
		calls = 5000
	}
	ct := &countTask{hits: make([]atomic.Int32, 64)}
	for c := 0; c < calls; c++ {
		n := 2 + c%(len(ct.hits)-1)
		ParallelFor(n, 1, ct)
		for i := range n {
			if h := ct.hits[i].Swap(0); h != 1 {
				t.Fatalf("call %d: ParallelFor returned with index %d run %d times", c, i, h)
			}
		}
		if c%97 == 0 {
			time.Sleep(2 * spinTime) // the helpers park: the wake-up path
		}
	}
}

// TestParallelForReturnsAfterEveryHelper delays each helper right after it
// counts itself off a job (as a preemption there would), so that the caller
// of the next job parks before the late helper signals. ParallelFor must
// still return only once no helper is left on its job.
func TestParallelForReturnsAfterEveryHelper(t *testing.T) {
	p := getPool()
	if p.workers < 2 {
		t.Skip("one thread: no helpers")
	}
	delay := func() { time.Sleep(time.Millisecond) }
	helperLeftJob.Store(&delay)
	defer helperLeftJob.Store(nil)
	ct := &countTask{hits: make([]atomic.Int32, 64)}
	for c := range 200 {
		ParallelFor(len(ct.hits), 1, ct)
		if left := p.pending.Load() &^ callerParked; left != 0 {
			t.Fatalf("call %d: ParallelFor returned with %d helpers still counted on its job", c, left)
		}
		for i := range ct.hits {
			if h := ct.hits[i].Swap(0); h != 1 {
				t.Fatalf("call %d: ParallelFor returned with index %d run %d times", c, i, h)
			}
		}
	}
}
