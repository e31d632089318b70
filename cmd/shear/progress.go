package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports long work on stderr: a bar on a terminal, otherwise a
// plain line every tenth of the work or every 10 s, whichever comes
// first. Both give the time left, estimated from the rate since the first
// update: after --resume, from the resumed steps only.
type progress struct {
	bar       *progressbar.ProgressBar
	what      string
	total     int
	start     time.Time // of the first update
	first     int       // done at the first update (a resumed run's start)
	last      time.Time // of the last plain line
	lastDone  int
	started   bool
	done      bool
	describe  string // the bar's description before the time left
	lineEvery time.Duration
}

func newProgress(what string, total int) *progress {
	p := &progress{what: what, total: total, describe: what, lineEvery: 10 * time.Second}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	return p
}

// timeLeft estimates the time to finish from the rate since the first
// update (ok false before there is a rate).
func timeLeft(first int, start time.Time, done, total int, now time.Time) (time.Duration, bool) {
	elapsed := now.Sub(start)
	if done <= first || elapsed <= 0 {
		return 0, false
	}
	perUnit := elapsed / time.Duration(done-first)
	return perUnit * time.Duration(total-done), true
}

// short writes d for a progress line: 45s, 3m10s, 1h05m.
func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// update sets the progress to done of total.
func (p *progress) update(done, total int) {
	now := time.Now()
	if !p.started {
		p.started, p.start, p.first, p.last, p.lastDone = true, now, done, now, done
	}
	left, known := timeLeft(p.first, p.start, done, total, now)
	if p.bar != nil {
		d := p.describe
		if known && done < total {
			d += fmt.Sprintf(" (%s left)", short(left))
		}
		p.bar.Describe(d)
		p.bar.Set(done)
		return
	}
	tenth := max(total/10, 1)
	if done == total || now.Sub(p.last) >= p.lineEvery || done/tenth > p.lastDone/tenth {
		p.last, p.lastDone = now, done
		line := fmt.Sprintf("%s: %d/%d (%.0f%%), %s", p.what, done, total, 100*float64(done)/float64(max(total, 1)), short(now.Sub(p.start)))
		if known && done < total {
			line += ", " + short(left) + " left"
		}
		fmt.Fprintln(os.Stderr, line)
	}
}

// setDescription sets what the bar shows before the time left (the stage
// and its loss).
func (p *progress) setDescription(d string) { p.describe = d }

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
	if loss != 0 {
		p.setDescription(fmt.Sprintf("%s loss %.4f", stage, loss))
	}
	p.update(done, total)
}

func (b stageBars) finish() {
	for _, p := range b {
		p.finish()
	}
}
