package simd

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Task is a unit of parallel work over the index range [0, n). Run is called
// with disjoint half-open ranges [lo, hi). Passing a pointer to a struct that
// lives across calls keeps ParallelFor allocation-free.
type Task interface {
	Run(lo, hi int)
}

// pool is a persistent set of workers. Goroutines are started once; each call
// of ParallelFor hands out chunks through an atomic counter, so no goroutine
// is spawned and nothing is allocated per call.
type pool struct {
	mu      sync.Mutex // one ParallelFor at a time; nested calls run inline
	workers int
	start   []chan struct{}
	done    sync.WaitGroup

	task  Task
	n     int
	chunk int
	next  atomic.Int64
}

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
		p := &pool{workers: Threads()}
		p.start = make([]chan struct{}, p.workers-1)
		for i := range p.start {
			p.start[i] = make(chan struct{}, 1)
			go p.loop(p.start[i])
		}
		workPool = p
	})
	return workPool
}

func (p *pool) loop(start chan struct{}) {
	for range start {
		p.work()
		p.done.Done()
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
	helpers := min(len(p.start), (n+chunk-1)/chunk-1)
	p.done.Add(helpers)
	for i := 0; i < helpers; i++ {
		p.start[i] <- struct{}{}
	}
	p.work()
	p.done.Wait()
	p.task = nil
}
