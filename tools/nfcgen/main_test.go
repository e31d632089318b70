package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/shear-ai/shear/runtime/tokenizer"
)

// TestTablesUpToDate: the committed tables are what the generator writes.
func TestTablesUpToDate(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../runtime/tokenizer/nfc_tables.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("runtime/tokenizer/nfc_tables.go is stale: run `go generate ./runtime/tokenizer`")
	}
}

// TestNFCMatchesXText: tokenizer.NFC equals x/text's norm.NFC on every code
// point, alone and between starters and marks, and on random sequences of
// starters, marks, composites and Hangul jamo and syllables — except where
// x/text is wrong: its composition keys keep 16 bits of each code point
// (norm/forminfo.go, combine), so a supplementary-plane starter followed by
// a mark composes as the BMP code point with the same low bits would
// (U+10041 U+0301 becomes U+00C1, where Python's unicodedata and UAX #15
// leave it; a supplementary mark can be clipped likewise). There x/text is
// asked instead with each supplementary-plane code point that composes
// with nothing replaced by a BMP one of the same combining class that
// composes with nothing either, and the answer mapped back.
func TestNFCMatchesXText(t *testing.T) {
	_, _, pairs, err := unicodeTables()
	if err != nil {
		t.Fatal(err)
	}
	composes := map[rune]bool{} // first or second of a composition
	for _, p := range pairs {
		composes[p.a], composes[p.b] = true, true
	}
	// Inert BMP stand-ins by combining class: private use for starters.
	standInsOf := map[uint8][]rune{}
	for r := rune(0xE000); r < 0xF000; r++ {
		standInsOf[0] = append(standInsOf[0], r)
	}
	for r := rune(0x300); r <= 0xFFFF; r++ {
		s := string(r)
		if c := norm.NFD.PropertiesString(s).CCC(); c != 0 && utf8.ValidRune(r) && !composes[r] && norm.NFD.String(s) == s {
			standInsOf[c] = append(standInsOf[c], r)
		}
	}
	clips := 0
	check := func(in string) {
		t.Helper()
		got, want := tokenizer.NFC(in), norm.NFC.String(in)
		if got == want {
			return
		}
		if inert := inertSupplementary(in, composes, standInsOf); inert.in == in || got != inert.back(norm.NFC.String(inert.in)) {
			t.Fatalf("NFC(%+q) = %+q, x/text says %+q (and %+q with inert stand-ins)", in, got, want, inert.back(norm.NFC.String(inert.in)))
		}
		clips++
	}
	var interesting []rune
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		for _, in := range []string{s, "a" + s, s + "\u0301", "\u1100" + s, s + "\u0334\u0301"} {
			check(in)
		}
		p := norm.NFC.PropertiesString(s)
		if p.CCC() != 0 || !p.BoundaryBefore() || norm.NFD.String(s) != s || r >= 0x1100 && r < 0x1200 || r >= 0xAC00 && r < 0xAC00+64 {
			interesting = append(interesting, r)
		}
	}
	t.Logf("%d code points, %d of them in random sequences", utf8.MaxRune+1, len(interesting))
	rng := rand.New(rand.NewPCG(1, 2))
	pool := append(interesting, 'a', 'e', 'o', ' ', 'A')
	var b strings.Builder
	for range 200000 {
		b.Reset()
		for range 1 + rng.IntN(8) {
			b.WriteRune(pool[rng.IntN(len(pool))])
		}
		check(b.String())
	}
	t.Logf("%d inputs where x/text's clipped keys compose a supplementary-plane code point", clips)
	if clips == 0 {
		t.Error("no clipped composition met: the exception is dead code, or x/text was fixed")
	}
}

// standIns is a text with its inert supplementary-plane starters replaced
// by private-use BMP characters.
type standIns struct {
	in   string
	orig map[rune]rune // stand-in → original
}

func inertSupplementary(s string, composes map[rune]bool, standInsOf map[uint8][]rune) standIns {
	si := standIns{orig: map[rune]rune{}}
	of := map[rune]rune{}
	used := map[uint8]int{}
	var b strings.Builder
	for _, r := range s {
		c := norm.NFD.PropertiesString(string(r)).CCC()
		if r > 0xFFFF && !composes[r] && norm.NFD.String(string(r)) == string(r) && used[c] < len(standInsOf[c]) {
			x, ok := of[r]
			if !ok {
				x = standInsOf[c][used[c]]
				used[c]++
				of[r], si.orig[x] = x, r
			}
			r = x
		}
		b.WriteRune(r)
	}
	si.in = b.String()
	return si
}

func (si standIns) back(s string) string {
	var b strings.Builder
	for _, r := range s {
		if o, ok := si.orig[r]; ok {
			r = o
		}
		b.WriteRune(r)
	}
	return b.String()
}
