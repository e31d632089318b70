package main

import (
	"context"
	"errors"
	"io"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
)

// errInterrupted ends a command stopped by Ctrl-C before it wrote its
// output (the previous output, if any, is untouched).
var errInterrupted = errors.New("interrupted: nothing was written")

// saveGGUF is m.Save that Ctrl-C (ctx) stops between writes: the
// temporary file is removed and a previous file at out stays as it was.
// Without it the default SIGINT ends the process mid-write and leaves the
// temporary file beside out.
func saveGGUF(ctx context.Context, m *model.Model, out string) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	b, err := m.GGUF()
	if err != nil {
		return err
	}
	err = gguf.WriteFileAtomic(out, func(w io.Writer) error {
		_, err := b.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// ctxWriter fails every write once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
