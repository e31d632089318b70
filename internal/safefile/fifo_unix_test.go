//go:build unix

package safefile

import (
	"path/filepath"
	"syscall"
)

func makeFIFO(dir string) (string, bool) {
	p := filepath.Join(dir, "fifo")
	return p, syscall.Mkfifo(p, 0o644) == nil
}
