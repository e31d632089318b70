//go:build unix

package host

import (
	"golang.org/x/sys/unix"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory backs an instance's linear memory with one anonymous mapping
// of the memory cap, reserved up front and touched only as the guest uses
// it. Growing is then a reslice: wazero's default allocator appends to a Go
// slice, which copies the whole memory on each memory.grow (the Go guest
// grows its heap in small steps, so a decode that builds a new KV cache
// copied hundreds of MiB) and keeps the host's garbage collector busy.
// The mapping is returned to the system when the instance closes.
type mmapMemory struct {
	buf []byte
}

// memoryAllocator returns the allocator for new instances. Where the
// mapping fails (address space limits), a memory grows as a Go slice.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		if max > 0 && max <= 1<<32 {
			b, err := unix.Mmap(-1, 0, int(max), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
			if err == nil {
				adviseHuge(b)
				return &mmapMemory{buf: b}
			}
		}
		return &sliceMemory{max: max}
	})
}

// sliceMemory is wazero's default behaviour: a Go slice that grows by
// appending.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf[:size]
}

func (m *sliceMemory) Free() { m.buf = nil }

// Reallocate returns the first size bytes; the mapping is zero-filled, as
// new wasm pages must be.
func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = unix.Munmap(m.buf)
		m.buf = nil
	}
}
