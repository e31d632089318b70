// Package safefile holds the two file checks that protect a user's data
// from a careless or hostile command line: an output that is (or lies
// inside, or would replace a file of) an input is refused by file identity
// rather than by path, and inputs are read only from regular files, so a
// device such as /dev/zero or a FIFO cannot make a reader allocate without
// bound.
package safefile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CheckOutput refuses writing out when it would destroy or replace an
// input. Files are compared by identity (device and inode after resolving
// symbolic links), so an alias or a hard link of an input is caught; an
// output directory that contains an input, or an existing output inside
// an input directory, is refused too. Empty paths are ignored.
func CheckOutput(out string, inputs ...string) error {
	outInfo, err := os.Stat(out)
	if err != nil {
		return nil // nothing exists at out yet (or it cannot be reached): no input can be there
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		inInfo, err := os.Stat(in)
		if err != nil {
			continue // a missing input is the reader's error to report
		}
		switch {
		case os.SameFile(outInfo, inInfo):
			return fmt.Errorf("output %s is the input %s: refusing to overwrite it", out, in)
		case outInfo.IsDir() && within(in, outInfo):
			return fmt.Errorf("output directory %s contains the input %s: refusing to write over it", out, in)
		case inInfo.IsDir() && within(out, inInfo):
			return fmt.Errorf("output %s lies inside the input directory %s and may be one of its files: refusing to overwrite it", out, in)
		}
	}
	return nil
}

// within reports whether one of path's parent directories (after
// resolving links) is the directory dir.
func within(path string, dir os.FileInfo) bool {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	if p, err = filepath.Abs(p); err != nil {
		return false
	}
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		if st, err := os.Stat(parent); err == nil && os.SameFile(st, dir) {
			return true
		}
		p = parent
	}
}

// ReadFile reads the whole regular file at path. Anything else (a
// directory, a device, a FIFO, a socket) is refused before reading, and
// at most the size the file had when opened is read, so the allocation
// is bounded by the file's size.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	b := make([]byte, size)
	n, err := io.ReadFull(f, b)
	if err != nil {
		return nil, fmt.Errorf("%s: read %d of %d bytes: %w", path, n, size, err)
	}
	return b, nil
}

// Open opens path for reading if it is a regular file (following links).
// The mode is checked before opening, since opening a FIFO blocks until
// a writer appears, and again on the opened file, which may have been
// swapped in between.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func regular(path string, st os.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s is not a regular file (%s): Shear reads models and data only from regular files", path, kind(st.Mode()))
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
