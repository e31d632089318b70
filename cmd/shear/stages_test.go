package main

import (
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
)

// TestStageMeter: stages follow progress and its named gaps, tokens go to
// the stage named, and memory touched in a stage raises that stage's
// peak, not the one before.
func TestStageMeter(t *testing.T) {
	debug.FreeOSMemory() // a low start, whatever the tests before left
	m := newStageMeter("load", map[string]string{"lhspg": "compress"})
	m.progress("lhspg", 1, 2)
	m.progress("lhspg", 2, 2)
	m.enter("recover")
	buf := make([]byte, 256<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	m.sample()
	runtime.KeepAlive(buf)
	m.addTokens("lhspg", 512)
	m.addTokens("lhspg", 512)
	st := m.finish()
	var names []string
	for _, s := range st {
		names = append(names, s.Stage)
	}
	if want := []string{"load", "lhspg", "compress", "recover"}; !slices.Equal(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
	if st[1].Tokens != 1024 || st[0].Tokens != 0 {
		t.Errorf("tokens %d, %d; want 1024 for lhspg, 0 for load", st[1].Tokens, st[0].Tokens)
	}
	if grew := st[3].PeakRSS - st[2].PeakRSS; grew < 128<<20 {
		t.Errorf("recover's peak %d is %d bytes above compress's; it touched 256 MiB", st[3].PeakRSS, grew)
	}
	if _, linux := residentBytes(); linux && processPeak() < 256<<20 {
		t.Errorf("VmHWM %d bytes after touching 256 MiB", processPeak())
	}
	if again := m.finish(); len(again) != len(st) {
		t.Errorf("a second finish gives %d stages, the first %d", len(again), len(st))
	}
}
