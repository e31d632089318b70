package main

import (
	"strings"
	"unicode"

	"github.com/shear-ai/shear/runtime/train"
)

// Reflow turns a hard-wrapped text into paragraphs: blocks separated by
// blank lines, each joined into one line with single spaces.
func Reflow(raw string) []string {
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	var paras []string
	for _, block := range strings.Split(raw, "\n\n") {
		p := strings.Join(strings.Fields(block), " ")
		if p != "" {
			paras = append(paras, p)
		}
	}
	return paras
}

// HeldOutCut is the first paragraph of the last frac of the text (by bytes).
func HeldOutCut(paras []string, frac float64) int {
	total := 0
	for _, p := range paras {
		total += len(p) + 2
	}
	keep := int(float64(total) * (1 - frac))
	n := 0
	for i, p := range paras {
		if n >= keep {
			return i
		}
		n += len(p) + 2
	}
	return len(paras)
}

// Sentences cuts a paragraph after '.', '!' or '?' (and any closing
// quotes) followed by a space and an upper-case letter or an opening
// quote, except after the abbreviations Mr. Mrs. Dr. St.
func Sentences(p string) []string {
	var out []string
	start := 0
	r := []rune(p)
	off := 0 // byte offset of r[i]
	for i := 0; i < len(r); i++ {
		n := len(string(r[i]))
		if r[i] == '.' || r[i] == '!' || r[i] == '?' {
			j, endOff := i+1, off+n
			for j < len(r) && (r[j] == '"' || r[j] == '\'') {
				endOff += len(string(r[j]))
				j++
			}
			if j+1 < len(r) && r[j] == ' ' && (unicode.IsUpper(r[j+1]) || r[j+1] == '"') {
				word := p[start:off]
				if k := strings.LastIndexByte(word, ' '); k >= 0 {
					word = word[k+1:]
				}
				switch word {
				case "Mr", "Mrs", "Dr", "St", "Esq":
				default:
					out = append(out, strings.TrimSpace(p[start:endOff]))
					start = endOff + 1
				}
			}
		}
		off += n
	}
	if rest := strings.TrimSpace(p[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// Instructions derives up to n "Continue the passage." records from the
// texts. Each paragraph of at least three sentences gives a candidate: the
// input is its leading sentences (until at least 60 bytes, leaving one
// sentence), the output the next sentence, with the one after it when the
// first is shorter than 60 bytes. Candidates whose input or output is
// longer than 300 bytes are dropped; of the rest (in text order), every
// k-th is kept, evenly spaced, up to n.
func Instructions(texts []string, n int) []train.Instruction {
	var cands []train.Instruction
	for _, t := range texts {
		for _, p := range strings.Split(t, "\n\n") {
			s := Sentences(strings.TrimSpace(p))
			if len(s) < 3 {
				continue
			}
			k, in := 0, ""
			for k < len(s)-1 && len(in) < 60 {
				in = strings.TrimSpace(in + " " + s[k])
				k++
			}
			o := s[k]
			if k+1 < len(s) && len(o) < 60 {
				o += " " + s[k+1]
			}
			if len(in) <= 300 && len(o) <= 300 {
				cands = append(cands, train.Instruction{Instruction: "Continue the passage.", Input: in, Output: o})
			}
		}
	}
	step := max(1, len(cands)/max(n, 1))
	var out []train.Instruction
	for i := 0; i < len(cands) && len(out) < n; i += step {
		out = append(out, cands[i])
	}
	return out
}
