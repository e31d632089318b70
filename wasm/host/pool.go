package host

import (
	"context"
	"errors"
	"sync"

	"github.com/shear-ai/shear/runtime/eval"
)

// Pool runs one model on up to size engines at once, one goroutine per
// engine: a wasm instance runs one call at a time, so parallel requests
// need an instance each. Engines start on demand and keep the model
// loaded; one whose instance stopped (memory limit, deadline, trap) starts
// a new instance and reloads the model on its next call. A Pool is safe
// for concurrent use.
type Pool struct {
	opts  Options
	gguf  []byte
	load  LoadOptions
	slots chan *slot

	mu     sync.Mutex
	all    []*slot
	closed bool
}

type slot struct {
	e *Engine
	m *Model
}

// NewPool creates a pool of size engines (at least 1) for one model. It
// starts the first engine and loads the model, so that a bad model or
// option fails here.
func NewPool(ctx context.Context, opts Options, size int, ggufBytes []byte, load LoadOptions) (*Pool, error) {
	size = max(size, 1)
	p := &Pool{opts: opts, gguf: ggufBytes, load: load, slots: make(chan *slot, size)}
	first := &slot{}
	if err := p.start(ctx, first); err != nil {
		return nil, err
	}
	p.slots <- first
	for i := 1; i < size; i++ {
		p.slots <- &slot{}
	}
	return p, nil
}

func (p *Pool) start(ctx context.Context, s *slot) error {
	e, err := New(ctx, p.opts)
	if err != nil {
		return err
	}
	m, err := e.Load(ctx, p.gguf, p.load)
	if err != nil {
		e.Close(ctx)
		return err
	}
	s.e, s.m = e, m
	p.mu.Lock()
	p.all = append(p.all, s)
	p.mu.Unlock()
	return nil
}

// Do runs fn with a model of the pool, waiting for a free engine (or for
// ctx to end).
func (p *Pool) Do(ctx context.Context, fn func(*Model) error) error {
	var s *slot
	select {
	case s = <-p.slots:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.slots <- s }()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("wasm/host: the pool is closed")
	}
	if s.m == nil {
		if err := p.start(ctx, s); err != nil {
			return err
		}
	}
	return fn(s.m)
}

// Generate runs Model.Generate on a free engine.
func (p *Pool) Generate(ctx context.Context, req GenerateRequest) (res GenerateResult, err error) {
	err = p.Do(ctx, func(m *Model) error {
		res, err = m.Generate(ctx, req)
		return err
	})
	return res, err
}

// Perplexity runs Model.Perplexity on a free engine.
func (p *Pool) Perplexity(ctx context.Context, req PerplexityRequest) (res eval.PPLResult, err error) {
	err = p.Do(ctx, func(m *Model) error {
		res, err = m.Perplexity(ctx, req)
		return err
	})
	return res, err
}

// Score runs Model.Score on a free engine.
func (p *Pool) Score(ctx context.Context, req ScoreRequest) (res ScoreResult, err error) {
	err = p.Do(ctx, func(m *Model) error {
		res, err = m.Score(ctx, req)
		return err
	})
	return res, err
}

// Close closes every engine. Calls running meanwhile finish first.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	all := p.all
	p.all = nil
	p.mu.Unlock()
	var first error
	for _, s := range all {
		if err := s.e.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
