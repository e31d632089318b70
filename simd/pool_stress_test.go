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

// TestParallelForLateSignals pauses, in turn, a helper right after it
// counts itself off a job and the caller between publishing a job and
// waking the parked helpers, each for longer than the other side spins, as
// a preemption there would. Each call must still return only once no
// helper is left on its job, with every index run once. Before the fix the
// first pause let a helper wake the next job's caller before that job had
// run, and the second woke a helper that had run the job already, so it
// ran it again and left the count of pending helpers at -1 (a deadlock).
func TestParallelForLateSignals(t *testing.T) {
	p := getPool()
	if p.workers < 2 {
		t.Skip("one thread: no helpers")
	}
	for _, at := range []pausePoint{helperLeftJob, callerPublished} {
		delay := func(got pausePoint) {
			if got == at {
				time.Sleep(time.Millisecond)
			}
		}
		pause.Store(&delay)
		ct := &countTask{hits: make([]atomic.Int32, 64)}
		for c := range 100 {
			ParallelFor(len(ct.hits), 1, ct)
			// A helper acting on a stale signal does so within microseconds
			// of the return: give it the time before looking.
			time.Sleep(4 * spinTime)
			if left := p.pending.Load() &^ callerParked; left != 0 {
				pause.Store(nil)
				t.Fatalf("pause %d, call %d: ParallelFor returned with the pending word at %#x (helpers still counted on its job)", at, c, uint32(p.pending.Load()))
			}
			for i := range ct.hits {
				if h := ct.hits[i].Swap(0); h != 1 {
					pause.Store(nil)
					t.Fatalf("pause %d, call %d: ParallelFor returned with index %d run %d times", at, c, i, h)
				}
			}
		}
		pause.Store(nil)
	}
}
