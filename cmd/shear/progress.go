package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports long work on stderr: a bar on a terminal, a plain line
// every few seconds otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	what  string
	total int
	last  time.Time
	start time.Time
	done  bool
}

func newProgress(what string, total int) *progress {
	p := &progress{what: what, total: total, start: time.Now(), last: time.Now()}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	return p
}

// update sets the progress to done of total.
func (p *progress) update(done, total int) {
	if p.bar != nil {
		p.bar.Set(done)
		return
	}
	if time.Since(p.last) >= 2*time.Second || done == total {
		p.last = time.Now()
		fmt.Fprintf(os.Stderr, "%s: %d/%d (%.1fs)\n", p.what, done, total, time.Since(p.start).Seconds())
	}
}

func (p *progress) finish() {
	if p.bar != nil && !p.done {
		p.bar.Finish()
	}
	p.done = true
}

// stageBars shows one progress line or bar per stage of a long command.
type stageBars map[string]*progress

// update reports a stage's progress, with its loss when there is one.
func (b stageBars) update(stage string, done, total int, loss float64) {
	p := b[stage]
	if p == nil {
		p = newProgress(stage, total)
		b[stage] = p
	}
	if p.bar != nil && loss != 0 {
		p.bar.Describe(fmt.Sprintf("%s loss %.4f", stage, loss))
	}
	p.update(done, total)
}

func (b stageBars) finish() {
	for _, p := range b {
		p.finish()
	}
}
