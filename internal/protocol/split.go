package protocol

import (
	"strings"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/train"
)

// SplitFrac is the fraction of a text file, by bytes, that its test part
// takes, and then its validation part.
const SplitFrac = 0.1

// TextSplit is a text cut into three disjoint parts.
type TextSplit struct {
	Test       string // the first SplitFrac of the bytes, to the next paragraph boundary
	Validation string // the next SplitFrac, likewise
	Train      string // the rest: training and calibration
}

// SplitText cuts text into its test part (the first 10% by bytes, cut at
// the next blank line: for tinystories-dev.txt it holds the first 100
// perplexity chunks, so the dense stories260K reproduces llama.cpp), its
// validation part (up to the paragraph boundary after 20%) and the rest.
func SplitText(text string) TextSplit {
	test, rest := cutAfter(text, int(float64(len(text))*SplitFrac))
	val, train := cutAfter(rest, int(float64(len(text))*2*SplitFrac)-len(test))
	return TextSplit{Test: test, Validation: val, Train: train}
}

// SplitHeldOut cuts a held-out text that has no training part (the
// default model's Persuasion tail) in two halves at a paragraph boundary:
// validation first, test second.
func SplitHeldOut(text string) (validation, test string) {
	return cutAfter(text, len(text)/2)
}

// cutAfter cuts text after the first blank line at or past byte at (at
// byte at when there is none; at ≤ 0 cuts nothing off).
func cutAfter(text string, at int) (head, rest string) {
	if at <= 0 {
		return "", text
	}
	at = min(at, len(text))
	if i := strings.Index(text[at:], "\n\n"); i >= 0 {
		at += i + 2
	}
	return text[:at], text[at:]
}

// DropQuoting returns the instructions whose input and output quote none
// of the held-out texts, and how many were dropped.
func DropQuoting(ins []train.Instruction, heldOut ...string) (kept []train.Instruction, dropped int) {
	for _, in := range ins {
		q := false
		for _, h := range heldOut {
			q = q || quotes(h, in.Input) || quotes(h, in.Output)
		}
		if q {
			dropped++
			continue
		}
		kept = append(kept, in)
	}
	return kept, dropped
}

// quotes reports whether s (long enough to be telling) appears in text.
func quotes(text, s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 20 && strings.Contains(text, s)
}

// SplitMC deals multiple-choice items alternately into a validation and
// a test half: item i (0-based, in file order) is validation when i is
// even, test when odd. Neighbouring items of a file tend to come from the
// same stretch of text, so alternating keeps the halves alike.
func SplitMC(items []eval.MCItem) (validation, test []eval.MCItem) {
	for i, it := range items {
		if i%2 == 0 {
			validation = append(validation, it)
		} else {
			test = append(test, it)
		}
	}
	return validation, test
}
