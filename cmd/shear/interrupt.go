package main

import (
	"context"
	"errors"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/model"
)

// errInterrupted ends a command stopped by Ctrl-C before it wrote its
// output (the previous output, if any, is untouched).
var errInterrupted = errors.New("interrupted: nothing was written")

// saveGGUF is app.SaveGGUF with Ctrl-C (ctx) reported as errInterrupted.
func saveGGUF(ctx context.Context, m *model.Model, out string) error {
	err := app.SaveGGUF(ctx, m, out)
	if ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// runInterruptible runs op with a context that Ctrl-C cancels and its
// progress on stderr; an interrupted op is errInterrupted.
func runInterruptible[T any](op func(context.Context, app.Progress) (T, error)) (T, error) {
	ctx, stop := interruptible()
	defer stop()
	bars := stageBars{}
	res, err := op(ctx, bars.update)
	bars.finish()
	if ctx.Err() != nil {
		return res, errInterrupted
	}
	return res, err
}
