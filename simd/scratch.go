package simd

import "sync"

// freeList recycles task values and scratch buffers so that the parallel
// kernels allocate nothing once warm. A mutex guards it: it is touched once
// per call or per chunk, never per element.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		t := f.items[n-1]
		f.items = f.items[:n-1]
		f.mu.Unlock()
		return t
	}
	f.mu.Unlock()
	return new(T)
}

func (f *freeList[T]) put(t *T) {
	f.mu.Lock()
	f.items = append(f.items, t)
	f.mu.Unlock()
}

// scratch is a reusable float32 buffer, one per running chunk.
type scratch struct{ buf []float32 }

var scratchFree freeList[scratch]

// getScratch returns a buffer of at least n floats; release it with
// scratchFree.put.
func getScratch(n int) *scratch {
	s := scratchFree.get()
	if cap(s.buf) < n {
		s.buf = make([]float32, max(n, 1<<13))
	}
	s.buf = s.buf[:n]
	return s
}
