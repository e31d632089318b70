package main

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/train"
)

// stageStat is one stage of a long command in its --json output.
type stageStat struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
	// PeakRSS is the largest resident memory sampled while the stage ran
	// (every 10 ms, and at its start and end).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Tokens is what the stage trained or scored on: calibration tokens
	// for the analysis, batch × ctx per LHSPG step, the scored tokens of
	// each recovery step; 0 where the stage does not count them.
	Tokens int `json:"tokens,omitempty"`
	start  time.Time
}

// stageMeter times the stages of a long command and samples the
// process's resident memory while each runs, so --json can say where the
// peak is. Stages change when progress reports a new one, when note is
// called, and after a stage's last step when gapAfter names the work that
// follows it without reporting progress (lorashear's compression after
// LHSPG's last step).
type stageMeter struct {
	mu       sync.Mutex
	stages   []*stageStat
	gapAfter map[string]string
	stop     chan struct{}
	wg       sync.WaitGroup
}

// memorySource says what peak_rss_bytes measures on this system.
func memorySource() string {
	if _, ok := residentBytes(); ok {
		return "resident set (/proc/self/statm)"
	}
	return "Go runtime's mapped memory (no /proc/self/statm)"
}

// residentBytes is the process's resident memory from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// memoryNow is residentBytes, or where there is none the memory the Go
// runtime has mapped and not returned.
func memoryNow() int64 {
	if n, ok := residentBytes(); ok {
		return n
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

// processPeak is the process's peak resident memory since it started
// (VmHWM), or 0 where the system does not say.
func processPeak() int64 { return procBytes("/proc/self/status", "VmHWM:") }

// newStageMeter starts measuring with the stage first.
func newStageMeter(first string, gapAfter map[string]string) *stageMeter {
	s := &stageMeter{gapAfter: gapAfter, stop: make(chan struct{})}
	s.enter(first)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *stageMeter) sample() {
	n := memoryNow()
	s.mu.Lock()
	if k := len(s.stages); k > 0 && n > s.stages[k-1].PeakRSS {
		s.stages[k-1].PeakRSS = n
	}
	s.mu.Unlock()
}

// enter ends the current stage and starts name (nothing when name is
// the current stage).
func (s *stageMeter) enter(name string) {
	s.mu.Lock()
	if k := len(s.stages); k > 0 && s.stages[k-1].Stage == name {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.sample() // the ending stage's last value
	now := time.Now()
	s.mu.Lock()
	if k := len(s.stages); k > 0 {
		s.stages[k-1].Seconds = now.Sub(s.stages[k-1].start).Seconds()
	}
	s.stages = append(s.stages, &stageStat{Stage: name, start: now})
	s.mu.Unlock()
	s.sample()
}

// progress follows a command's progress callback: its stage is current
// until its last step, then the gap after it, if one is named.
func (s *stageMeter) progress(stage string, done, total int) {
	s.enter(stage)
	if gap := s.gapAfter[stage]; gap != "" && done >= total {
		s.enter(gap)
	}
}

// addTokens adds n to the tokens of the stage named stage (the last one
// of that name).
func (s *stageMeter) addTokens(stage string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.stages) - 1; i >= 0; i-- {
		if s.stages[i].Stage == stage {
			s.stages[i].Tokens += n
			return
		}
	}
}

// finish ends the last stage and the sampling, and returns the stages.
func (s *stageMeter) finish() []stageStat {
	select {
	case <-s.stop:
	default:
		s.sample()
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		last := s.stages[len(s.stages)-1]
		last.Seconds = time.Since(last.start).Seconds()
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]stageStat, len(s.stages))
	for i, st := range s.stages {
		out[i] = *st
	}
	return out
}

// addMemory puts the stages and the process's peak resident memory into
// a long command's --json result.
func addMemory(result map[string]any, stages []stageStat) {
	peak := processPeak()
	for _, st := range stages {
		peak = max(peak, st.PeakRSS)
	}
	result["stages"], result["peak_rss_bytes"], result["memory_source"] = stages, peak, memorySource()
}

// follow wraps a progress callback so the meter follows its stages.
func (s *stageMeter) follow(p app.Progress) app.Progress {
	return func(stage string, done, total int, loss float64) {
		s.progress(stage, done, total)
		p(stage, done, total, loss)
	}
}

// countTokens gives the pruning and recovery stages their token counts
// from the reports: the analysis's scored calibration tokens, batch × ctx
// per LHSPG step (one micro-batch a step), each recovery step's scored
// tokens.
func countTokens(s *stageMeter, rep *prune.Report, rrep *prune.RecoverReport, opt prune.Options) {
	if rep != nil {
		if rep.Analysis != nil {
			s.addTokens("analyze", rep.Analysis.Tokens)
		}
		s.addTokens("lhspg", len(rep.Log)*opt.Batch*opt.Ctx)
	}
	if rrep != nil {
		s.addTokens("recover-1", scoredTokens(rrep.Log1))
		s.addTokens("recover-2", scoredTokens(rrep.Log2))
	}
}

// scoredTokens sums a training log's scored tokens.
func scoredTokens(log []train.StepInfo) int {
	n := 0
	for _, st := range log {
		n += st.Tokens
	}
	return n
}
