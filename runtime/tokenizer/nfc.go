package tokenizer

import (
	"sort"
	"strings"
	"unicode/utf8"
)

//go:generate go run ../../tools/nfcgen -o nfc_tables.go

// NFC returns s in Unicode Normalization Form C (UAX #15): canonical
// decomposition, canonical ordering of combining marks, canonical
// composition. It is the normalizer a tokenizer.json can ask for (Qwen's
// does); the tables are generated from golang.org/x/text/unicode/norm
// (tools/nfcgen), whose NFC this equals on every code point and on
// sequences of them (the generator's test). Bytes that are not valid UTF-8
// are kept as they are, and split the text: nothing composes across them.
func NFC(s string) string {
	if !needsNFC(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	var buf []rune
	for len(s) > 0 {
		// The longest valid UTF-8 prefix is normalized; an invalid byte is
		// copied.
		n := 0
		for n < len(s) {
			r, size := utf8.DecodeRuneInString(s[n:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			n += size
		}
		if n > 0 {
			buf = composeNFC(decomposeNFD(buf[:0], s[:n]))
			for _, r := range buf {
				b.WriteRune(r)
			}
		}
		if n < len(s) {
			b.WriteByte(s[n])
			n++
		}
		s = s[n:]
	}
	return b.String()
}

// needsNFC is a quick check: false means s is certainly in NFC (every code
// point below U+0300, where nothing decomposes, combines or composes, or
// invalid bytes only among them).
func needsNFC(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xCC { // the lead byte of U+0300 and above
			return true
		}
	}
	return false
}

// Hangul syllables (Unicode §3.12): LV and LVT are composed arithmetically.
const (
	hangulBase   = 0xAC00
	hangulLBase  = 0x1100
	hangulVBase  = 0x1161
	hangulTBase  = 0x11A7
	hangulLCount = 19
	hangulVCount = 21
	hangulTCount = 28
	hangulNCount = hangulVCount * hangulTCount
	hangulSCount = hangulLCount * hangulNCount
)

// decomposeNFD appends the canonical decomposition of s, in canonical
// order, to out.
func decomposeNFD(out []rune, s string) []rune {
	for _, r := range s {
		switch {
		case r >= hangulBase && r < hangulBase+hangulSCount:
			i := r - hangulBase
			out = append(out, hangulLBase+i/hangulNCount, hangulVBase+i%hangulNCount/hangulTCount)
			if t := i % hangulTCount; t != 0 {
				out = append(out, hangulTBase+t)
			}
		default:
			if d, ok := decomposition[r]; ok {
				for _, x := range d {
					out = append(out, x)
				}
			} else {
				out = append(out, r)
			}
		}
	}
	// Canonical ordering: each run of marks (class ≠ 0) sorted stably by class.
	for i := 0; i < len(out); {
		if combiningClass[out[i]] == 0 {
			i++
			continue
		}
		j := i
		for j < len(out) && combiningClass[out[j]] != 0 {
			j++
		}
		run := out[i:j]
		sort.SliceStable(run, func(a, b int) bool { return combiningClass[run[a]] < combiningClass[run[b]] })
		i = j
	}
	return out
}

// composeNFC composes a decomposed, canonically ordered sequence in place:
// each character joins the last starter if no character between them has a
// class ≥ its own (or is a starter) and the pair is a primary composite.
func composeNFC(rs []rune) []rune {
	if len(rs) == 0 {
		return rs
	}
	starter := -1 // index in the output of the last starter
	if combiningClass[rs[0]] == 0 {
		starter = 0
	}
	out := rs[:1]
	lastClass := combiningClass[rs[0]]
	for _, r := range rs[1:] {
		class := combiningClass[r]
		if starter >= 0 {
			blocked := len(out)-1 != starter && (lastClass == 0 || lastClass >= class)
			if !blocked {
				if c, ok := compose(out[starter], r); ok {
					out[starter] = c
					continue
				}
			}
		}
		if class == 0 {
			starter = len(out)
		}
		lastClass = class
		out = append(out, r)
	}
	return out
}

// compose returns the primary composite of a and b, if there is one.
func compose(a, b rune) (rune, bool) {
	if a >= hangulLBase && a < hangulLBase+hangulLCount && b >= hangulVBase && b < hangulVBase+hangulVCount {
		return hangulBase + ((a-hangulLBase)*hangulVCount+b-hangulVBase)*hangulTCount, true
	}
	if a >= hangulBase && a < hangulBase+hangulSCount && (a-hangulBase)%hangulTCount == 0 &&
		b > hangulTBase && b < hangulTBase+hangulTCount {
		return a + b - hangulTBase, true
	}
	c, ok := composition[[2]rune{a, b}]
	return c, ok
}
