// Package bpe trains a SentencePiece-style BPE vocabulary with byte
// fallback, in the layout LLaMA's tokenizer uses, so that Shear's (and
// llama.cpp's) SentencePiece encoder reproduces the learned merges.
//
// Training, as SentencePiece's BPE trainer does it (simplified):
//
//  1. Spaces become U+2581 (▁) and every text gets a leading ▁ (SentencePiece's
//     add_dummy_prefix, which the encoder applies at the start of a text).
//  2. The text is cut into words: a word starts at each ▁ and at each change
//     of character class (letter, digit, newline, other), so a piece never
//     mixes classes (SentencePiece's split_by_unicode_script and
//     split_by_number) and ▁ only begins a piece. Characters below the
//     coverage cut also end words: they are never merged and encode as bytes.
//  3. The characters that make up a CharacterCoverage share of the text
//     become single-character pieces.
//  4. The most frequent adjacent pair of symbols over all words is merged,
//     repeatedly, until the vocabulary is full. Ties go to the pair whose
//     merged text sorts first, so the result depends only on the input.
//
// The vocabulary is <unk>, <s>, </s>, the 256 byte tokens <0x00>…<0xFF>
// (type byte), the characters, then the merged pieces in merge order. A
// merged piece of rank r scores −r: the encoder merges the adjacent pair
// with the highest score first, which replays the merges in training order
// (SentencePiece BPE models are scored the same way). Characters score below
// every merge; their score is never used, since no merge produces them.
package bpe

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// space is SentencePiece's escaped space, U+2581.
const space = "\u2581"

// Options configure Train.
type Options struct {
	VocabSize int // total tokens, including the 3 control and 256 byte tokens
	// CharacterCoverage is the share of characters (by count) that must be
	// single-character pieces; the rarest beyond it fall back to bytes.
	// 0 means 0.9995, SentencePiece's default.
	CharacterCoverage float64
	// MaxPieceChars bounds a piece's length in characters (0: 16, as
	// SentencePiece's max_sentencepiece_length).
	MaxPieceChars int
}

// Result is a trained vocabulary and how it came about.
type Result struct {
	Vocab  tokenizer.Vocab
	Chars  int // single-character pieces
	Merges int // merged pieces
	Words  int // distinct words counted
}

// Fixed ids of the special tokens.
const (
	unkID, bosID, eosID = 0, 1, 2
	base                = 3 + 256 // special and byte tokens
)

// Train learns a vocabulary of opt.VocabSize tokens from texts. It stops
// early (with a smaller vocabulary) when no pair occurs twice.
func Train(texts []string, opt Options) (*Result, error) {
	if opt.CharacterCoverage == 0 {
		opt.CharacterCoverage = 0.9995
	}
	if opt.MaxPieceChars == 0 {
		opt.MaxPieceChars = 16
	}
	switch {
	case opt.VocabSize < base+1:
		return nil, fmt.Errorf("bpe: vocabulary size %d is too small: the special and byte tokens alone take %d", opt.VocabSize, base)
	case !(opt.CharacterCoverage > 0 && opt.CharacterCoverage <= 1):
		return nil, fmt.Errorf("bpe: character coverage %v must be in (0, 1]", opt.CharacterCoverage)
	case opt.MaxPieceChars < 2:
		return nil, fmt.Errorf("bpe: maximum piece length %d must be at least 2", opt.MaxPieceChars)
	}

	// Characters and their counts, over the escaped texts.
	charCount := map[string]int64{}
	var total int64
	for _, t := range texts {
		for _, r := range escape(t) {
			charCount[string(r)]++
			total++
		}
	}
	if total == 0 {
		return nil, errors.New("bpe: the training text is empty")
	}
	chars := make([]string, 0, len(charCount))
	for c := range charCount {
		chars = append(chars, c)
	}
	sort.Slice(chars, func(i, j int) bool {
		ci, cj := charCount[chars[i]], charCount[chars[j]]
		return ci > cj || (ci == cj && chars[i] < chars[j])
	})
	var covered int64
	keep := 0
	for keep < len(chars) && float64(covered) < opt.CharacterCoverage*float64(total) {
		covered += charCount[chars[keep]]
		keep++
	}
	chars = chars[:keep]
	if base+len(chars) > opt.VocabSize {
		return nil, fmt.Errorf("bpe: vocabulary size %d is too small: %d special and byte tokens plus %d characters (coverage %v) need %d",
			opt.VocabSize, base, len(chars), opt.CharacterCoverage, base+len(chars))
	}

	// Symbols: 0..len(chars)-1 are the characters; merges append.
	sym := make([]string, len(chars))
	symLen := make([]int, len(chars)) // in characters
	symID := make(map[string]int32, opt.VocabSize)
	for i, c := range chars {
		sym[i], symLen[i] = c, 1
		symID[c] = int32(i)
	}

	// Words and their counts.
	wordCount := map[string]int64{}
	for _, t := range texts {
		splitWords(escape(t), symID, func(w string) { wordCount[w]++ })
	}
	wordTexts := make([]string, 0, len(wordCount))
	for w := range wordCount {
		wordTexts = append(wordTexts, w)
	}
	sort.Strings(wordTexts)
	words := make([][]int32, len(wordTexts))
	counts := make([]int64, len(wordTexts))
	for i, w := range wordTexts {
		counts[i] = wordCount[w]
		for _, r := range w {
			words[i] = append(words[i], symID[string(r)])
		}
	}

	// Pair counts and, per pair, the words that may hold it (possibly stale).
	type pair struct{ a, b int32 }
	pairCount := map[pair]int64{}
	where := map[pair][]int32{}
	addPairs := func(wi int, sign int64) {
		w := words[wi]
		for j := 0; j+1 < len(w); j++ {
			p := pair{w[j], w[j+1]}
			if symLen[p.a]+symLen[p.b] > opt.MaxPieceChars {
				continue
			}
			pairCount[p] += sign * counts[wi]
			if sign > 0 {
				where[p] = append(where[p], int32(wi))
			}
		}
	}
	for wi := range words {
		addPairs(wi, 1)
	}

	reserved := map[string]bool{"<unk>": true, "<s>": true, "</s>": true}
	for b := range 256 {
		reserved[fmt.Sprintf("<0x%02X>", b)] = true
	}
	for _, c := range chars {
		if reserved[c] {
			return nil, fmt.Errorf("bpe: character %q collides with a special token", c)
		}
	}

	merges := opt.VocabSize - base - len(chars)
	mergeStart := len(sym)
	for len(sym)-mergeStart < merges {
		// The most frequent pair; ties by merged text, then by split.
		var best pair
		var bestN int64
		bestText := ""
		for p, n := range pairCount {
			if n < 2 || n < bestN {
				continue
			}
			text := sym[p.a] + sym[p.b]
			if n > bestN || text < bestText || (text == bestText && (p.a < best.a || (p.a == best.a && p.b < best.b))) {
				if _, dup := symID[text]; dup || reserved[text] {
					continue
				}
				best, bestN, bestText = p, n, text
			}
		}
		if bestN == 0 {
			break
		}
		id := int32(len(sym))
		sym = append(sym, bestText)
		symLen = append(symLen, symLen[best.a]+symLen[best.b])
		symID[bestText] = id

		ws := where[best]
		delete(where, best)
		last := int32(-1)
		for _, wi := range ws {
			if wi == last { // a word is listed once per occurrence
				continue
			}
			last = wi
			w := words[wi]
			has := false
			for j := 0; j+1 < len(w); j++ {
				if w[j] == best.a && w[j+1] == best.b {
					has = true
					break
				}
			}
			if !has {
				continue
			}
			addPairs(int(wi), -1)
			out := w[:0]
			for j := 0; j < len(w); j++ {
				if j+1 < len(w) && w[j] == best.a && w[j+1] == best.b {
					out = append(out, id)
					j++
				} else {
					out = append(out, w[j])
				}
			}
			words[wi] = out
			addPairs(int(wi), 1)
		}
		for p, n := range pairCount {
			if n == 0 {
				delete(pairCount, p)
			}
		}
		delete(pairCount, best)
	}

	v := tokenizer.Vocab{BOS: bosID, EOS: eosID, UNK: unkID, AddSpacePrefix: true, AddBOS: true}
	add := func(text string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, text)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, tokenizer.TypeUnknown)
	add("<s>", 0, tokenizer.TypeControl)
	add("</s>", 0, tokenizer.TypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, tokenizer.TypeByte)
	}
	nMerges := len(sym) - mergeStart
	for i, c := range chars {
		add(c, -float32(nMerges+i), tokenizer.TypeNormal)
	}
	for r := range nMerges {
		add(sym[mergeStart+r], -float32(r), tokenizer.TypeNormal)
	}
	if _, err := tokenizer.New(v); err != nil {
		return nil, err
	}
	return &Result{Vocab: v, Chars: len(chars), Merges: nMerges, Words: len(wordTexts)}, nil
}

// escape applies the encoder's normalisation: a leading space (the dummy
// prefix) and every space as ▁.
func escape(text string) string {
	if text == "" {
		return ""
	}
	return space + strings.ReplaceAll(text, " ", space)
}

// Character classes: a piece holds characters of one class, after an
// optional leading ▁.
const (
	classSpace = iota
	classLetter
	classDigit
	classNewline
	classOther
)

func class(r rune) int {
	switch {
	case r == '\u2581':
		return classSpace
	case unicode.IsLetter(r) || unicode.IsMark(r):
		return classLetter
	case unicode.IsDigit(r):
		return classDigit
	case r == '\n' || r == '\r':
		return classNewline
	}
	return classOther
}

// splitWords calls emit for each word of the escaped text s: a word starts
// at ▁ or at a change of class, and characters outside known are dropped
// (they end the word before them).
func splitWords(s string, known map[string]int32, emit func(string)) {
	start, prev := -1, -1 // word start, class of the word's last character
	for i, r := range s {
		n := utf8.RuneLen(r)
		if r == utf8.RuneError {
			n = 1
		}
		if _, ok := known[s[i:i+n]]; !ok {
			if start >= 0 {
				emit(s[start:i])
			}
			start, prev = -1, -1
			continue
		}
		c := class(r)
		switch {
		case start < 0:
			start = i
		case c == classSpace || (prev != classSpace && c != prev):
			emit(s[start:i])
			start = i
		}
		prev = c
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// GGUF builds a vocabulary-only GGUF file (architecture llama, no
// tensors) that tokenizer.FromGGUF loads.
func GGUF(v tokenizer.Vocab) *gguf.Builder {
	b := gguf.NewBuilder()
	b.Set("general.architecture", "llama")
	b.Set("general.name", "shear-bpe")
	for _, kv := range v.GGUFKeys() {
		b.SetKV(kv)
	}
	return b
}
