//go:build !unix

package host

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default (a Go slice) where there is no mmap.
func memoryAllocator() experimental.MemoryAllocator { return nil }
