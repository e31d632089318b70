//go:build linux

package host

import "golang.org/x/sys/unix"

// mapNoReserve: the cap is reserved address space, not committed memory.
const mapNoReserve = unix.MAP_NORESERVE

// adviseHuge asks for transparent huge pages (where THP is in "madvise"
// mode): the kernels stream the weights through this memory, and 4 KiB
// pages cost TLB misses the Go heap does not have.
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
