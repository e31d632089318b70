package simd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Task is a unit of parallel work over the index range [0, n). Run is called
// with disjoint half-open ranges [lo, hi). Passing a pointer to a struct that
// lives across calls keeps ParallelFor allocation-free.
type Task interface {
	Run(lo, hi int)
}

// pool is a persistent set of workers. Goroutines are started once; each call
// of ParallelFor publishes a job by bumping gen and hands out chunks through
// an atomic counter, so no goroutine is spawned and nothing is allocated per
// call.
//
// A decode step makes hundreds of short parallel calls separated by a few
// microseconds of serial work, and waking a parked goroutine costs 5–15 µs.
// So a worker that finishes a job spins (yielding to the scheduler) for up
// to spinTime before it parks on its channel, and the caller spins likewise
// while it waits for the helpers.
type pool struct {
	mu      sync.Mutex // one ParallelFor at a time; nested calls run inline
	workers int

	gen   atomic.Uint64 // job number; bumped after the job is set up
	task  Task
	n     int
	chunk int
	next  atomic.Int64
	// pending counts the helpers still on the current job, plus
	// callerParked once the caller blocks on done. One word, so that the
	// helper whose decrement ends the job is the one that learns, in the
	// same atomic step, whether the caller of this job is parked.
	pending  atomic.Int32
	wake     []chan struct{}
	sleeping []atomic.Bool // helper i is parked (or about to park) on wake[i]
	done     chan struct{}
}

// callerParked is the bit of pool.pending set while the caller waits on
// done (above any helper count).
const callerParked = 1 << 30

// pause, when set by a test, runs at the two moments where a goroutine
// descheduled for a while let the other side act on stale state: a
// helper right after it counted itself off a job, and the caller between
// publishing a job and waking the parked helpers.
var pause atomic.Pointer[func(pausePoint)]

type pausePoint int

const (
	helperLeftJob pausePoint = iota
	callerPublished
)

func pauseAt(at pausePoint) {
	if f := pause.Load(); f != nil {
		(*f)(at)
	}
}

// spinTime is how long an idle worker or a waiting caller keeps polling
// before it blocks.
const spinTime = 50 * time.Microsecond

var (
	workPool     *pool
	workPoolOnce sync.Once
	threads      atomic.Int32
)

// SetThreads sets how many threads ParallelFor uses (n <= 0 means GOMAXPROCS).
// It takes effect on pools created after the call; call it before first use.
func SetThreads(n int) { threads.Store(int32(n)) }

// Threads reports how many threads ParallelFor uses.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

func getPool() *pool {
	workPoolOnce.Do(func() {
		p := &pool{workers: Threads(), done: make(chan struct{}, 1)}
		helpers := max(0, p.workers-1)
		p.wake = make([]chan struct{}, helpers)
		p.sleeping = make([]atomic.Bool, helpers)
		for i := range p.wake {
			p.wake[i] = make(chan struct{}, 1)
			go p.loop(i)
		}
		workPool = p
	})
	return workPool
}

// spin polls cond, yielding the processor between polls, for up to
// spinTime. It reports whether cond became true.
func spin(cond func() bool) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i&63 == 63 && time.Since(start) > spinTime {
			return false
		}
		runtime.Gosched()
	}
}

func (p *pool) loop(i int) {
	var seen uint64 // jobs start at 1: this helper runs every job
	for {
		p.waitJob(i, seen)
		seen = p.gen.Load()
		p.work()
		// Only the decrement that leaves exactly callerParked ends a job
		// whose caller is parked. A separate "is the caller waiting?" flag,
		// read after the decrement, let a helper delayed there see the
		// flag of the caller's next job and wake it before any helper had
		// run that job (the race on p.n and p.chunk, and a deadlock).
		left := p.pending.Add(-1)
		pauseAt(helperLeftJob)
		if left == callerParked {
			p.done <- struct{}{}
		}
	}
}

// waitJob returns once a job newer than seen has been published. A wake-up
// does not prove one: a caller delayed between publishing job g and waking
// the parked helpers can wake a helper that has already run g and parked
// again. Returning on that token ran g twice: the extra pass read p.n and
// p.chunk while the caller set up the next job, and its extra decrement
// of pending left a later caller waiting forever.
func (p *pool) waitJob(i int, seen uint64) {
	for p.gen.Load() == seen {
		if spin(func() bool { return p.gen.Load() != seen }) {
			return
		}
		p.sleeping[i].Store(true)
		if p.gen.Load() != seen && p.sleeping[i].CompareAndSwap(true, false) {
			return // a job arrived before anyone saw us asleep
		}
		<-p.wake[i]
	}
}

func (p *pool) work() {
	for {
		lo := int(p.next.Add(int64(p.chunk))) - p.chunk
		if lo >= p.n {
			return
		}
		p.task.Run(lo, min(lo+p.chunk, p.n))
	}
}

// ParallelFor runs t over [0, n) split into chunks of at least grain indices,
// on the persistent worker pool. It returns when all chunks are done.
// Calls made while another ParallelFor is running (from a task, or from
// another goroutine) run on the calling goroutine instead.
func ParallelFor(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	p := getPool()
	if p.workers <= 1 || n <= grain || !p.mu.TryLock() {
		t.Run(0, n)
		return
	}
	defer p.mu.Unlock()
	// About four chunks per worker balances load without much contention.
	chunk := max(grain, (n+4*p.workers-1)/(4*p.workers))
	p.task, p.n, p.chunk = t, n, chunk
	p.next.Store(0)
	p.pending.Store(int32(len(p.wake)))
	p.gen.Add(1) // publishes the job: every helper runs it exactly once
	pauseAt(callerPublished)
	for i := range p.wake {
		if p.sleeping[i].CompareAndSwap(true, false) {
			p.wake[i] <- struct{}{}
		}
	}
	p.workOrAbandon()
	p.wait()
	p.task = nil
}

// workOrAbandon runs the caller's share of the job. If a task panics
// here (the wasm host turns a guest's bad arguments into a panic that
// wazero recovers), the job is abandoned: no chunk is handed out any
// more, and the panic goes on only once every helper has left the job.
// Unlocking while helpers still ran it let the next ParallelFor rewrite
// the job under them (a data race, and a count of pending helpers that
// no longer matched).
func (p *pool) workOrAbandon() {
	defer func() {
		if r := recover(); r != nil {
			p.next.Store(int64(p.n))
			p.wait()
			p.task = nil
			panic(r)
		}
	}()
	p.work()
}

// wait returns once every helper has finished the current job. If the
// helpers were all done when the caller set callerParked, none of them
// will signal; otherwise the last one will, exactly once.
func (p *pool) wait() {
	if spin(func() bool { return p.pending.Load() == 0 }) {
		return
	}
	if p.pending.Add(callerParked) != callerParked {
		<-p.done
	}
}
