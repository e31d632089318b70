package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A pre-tokenizer cuts text into words before the byte-level BPE merges;
// no merge crosses a word boundary. llama.cpp names them in
// tokenizer.ggml.pre and implements each as a list of regular expressions
// (llm_tokenizer_bpe in llama-vocab.cpp). Go's regexp has no lookahead, so
// the splitters here are written by hand, as llama.cpp's own
// unicode_regex_split_custom_gpt2 and _llama3 are (unicode.cpp).
type preTokenizer struct {
	// split calls emit with each word of text in order; the words
	// concatenate to text.
	split func(text string, emit func(word string))
	// ignoreMerges: a word that is itself a token is emitted whole, without
	// running the merges (llama.cpp's ignore_merges, tokenizer.json's
	// "ignore_merges": true for Llama-3).
	ignoreMerges bool
	// addBOS is llama.cpp's default for tokenizer.ggml.add_bos_token.
	addBOS bool
}

// preTokenizers maps the tokenizer.ggml.pre names Shear supports to their
// splitters, with llama.cpp's aliases.
var preTokenizers = map[string]preTokenizer{
	"gpt-2":     {split: splitGPT2},
	"llama-bpe": {split: splitLlama3Digits3, ignoreMerges: true, addBOS: true},
	"llama3":    {split: splitLlama3Digits3, ignoreMerges: true, addBOS: true},
	"llama-v3":  {split: splitLlama3Digits3, ignoreMerges: true, addBOS: true},
	"qwen2":     {split: splitLlama3Digits1},
	"smollm":    {split: splitSmolLM},
}

// PreTokenizers lists the supported tokenizer.ggml.pre names, sorted.
func PreTokenizers() []string {
	names := make([]string, 0, len(preTokenizers))
	for n := range preTokenizers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupPre(name string) (preTokenizer, error) {
	p, ok := preTokenizers[name]
	if !ok {
		if name == "" {
			return p, fmt.Errorf("tokenizer: the byte-level BPE vocabulary names no pre-tokenizer (tokenizer.ggml.pre); supported: %s", strings.Join(PreTokenizers(), ", "))
		}
		return p, fmt.Errorf("tokenizer: unknown pre-tokenizer %q (tokenizer.ggml.pre); supported: %s", name, strings.Join(PreTokenizers(), ", "))
	}
	return p, nil
}

// Character classes as llama.cpp's unicode_cpt_flags: \p{L}, \p{N} and its
// whitespace set (the Unicode White_Space property, which is what \s
// matches in Hugging Face's regex engines too).
func isLetter(r rune) bool {
	return r < utf8.RuneSelf && asciiClass[r]&clsLetter != 0 || r >= utf8.RuneSelf && unicode.IsLetter(r)
}
func isNumber(r rune) bool {
	return r < utf8.RuneSelf && asciiClass[r]&clsNumber != 0 || r >= utf8.RuneSelf && unicode.IsNumber(r)
}
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&clsSpace != 0
	}
	switch r {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

const (
	clsLetter = 1 << iota
	clsNumber
	clsSpace
)

var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for r := range c {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			c[r] = clsLetter
		case r >= '0' && r <= '9':
			c[r] = clsNumber
		case r >= 9 && r <= 13, r == ' ':
			c[r] = clsSpace
		}
	}
	return
}()

// runes decodes text for a splitter: the code points and the byte offset
// where each starts (with a final entry len(text)). An invalid byte is one
// U+FFFD code point, so words always cut text at the same bytes llama.cpp
// would cut its U+FFFD-substituted text.
type runes struct {
	r   []rune
	off []int
}

func decodeRunes(text string) runes {
	rs := runes{r: make([]rune, 0, len(text)), off: make([]int, 0, len(text)+1)}
	for i, r := range text {
		rs.r = append(rs.r, r)
		rs.off = append(rs.off, i)
	}
	rs.off = append(rs.off, len(text))
	return rs
}

// at returns the code point at i, or -1 past the end (llama.cpp's
// OUT_OF_RANGE, whose flags are all false).
func (rs *runes) at(i int) rune {
	if i < len(rs.r) {
		return rs.r[i]
	}
	return -1
}

func (rs *runes) letter(i int) bool { return i < len(rs.r) && isLetter(rs.r[i]) }
func (rs *runes) number(i int) bool { return i < len(rs.r) && isNumber(rs.r[i]) }
func (rs *runes) space(i int) bool  { return i < len(rs.r) && isSpace(rs.r[i]) }

// other is [^\s\p{L}\p{N}] for a code point inside the text.
func (rs *runes) other(i int) bool {
	return i < len(rs.r) && !isSpace(rs.r[i]) && !isLetter(rs.r[i]) && !isNumber(rs.r[i])
}

// splitGPT2 is GPT-2's
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// as llama.cpp's unicode_regex_split_custom_gpt2.
func splitGPT2(text string, emit func(string)) {
	w := newWords(text, emit)
	rs := &w.runes
	for pos := 0; pos < len(rs.r); {
		c := rs.r[pos]
		if end := w.contraction(pos, false); end > 0 {
			pos = end
			w.cut(pos)
			continue
		}
		p := pos
		if c == ' ' {
			p++ // the optional leading space of the next three alternatives
		}
		switch {
		case rs.letter(p):
			for p++; rs.letter(p); p++ {
			}
			pos = p
			w.cut(pos)
			continue
		case rs.number(p):
			for p++; rs.number(p); p++ {
			}
			pos = p
			w.cut(pos)
			continue
		case rs.other(p):
			for p++; rs.other(p); p++ {
			}
			pos = p
			w.cut(pos)
			continue
		}
		pos = whitespace(rs, pos, false)
		w.cut(pos)
	}
}

// words emits the words of a text as a splitter finds their ends.
type words struct {
	text string
	runes
	prev int // code point where the next word starts
	emit func(string)
}

func newWords(text string, emit func(string)) *words {
	return &words{text: text, runes: decodeRunes(text), emit: emit}
}

// cut ends the current word before code point end.
func (w *words) cut(end int) {
	if end > w.prev {
		w.emit(w.text[w.off[w.prev]:w.off[end]])
	}
	w.prev = end
}

// contraction returns the end of 's|'t|'re|'ve|'m|'ll|'d at pos, or 0.
// With fold, ASCII case is ignored (Llama-3's (?i:…), which llama.cpp
// applies with unicode_tolower).
func (w *words) contraction(pos int, fold bool) int {
	if w.r[pos] != '\'' || pos+1 >= len(w.r) {
		return 0
	}
	a, b := w.at(pos+1), w.at(pos+2)
	if fold {
		a, b = unicode.ToLower(a), unicode.ToLower(b)
	}
	switch a {
	case 's', 't', 'm', 'd':
		return pos + 2
	}
	if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
		return pos + 3
	}
	return 0
}

// whitespace matches \s*[\r\n]+ (when lines is set), \s+(?!\S) and \s+ at
// pos and returns the end; a non-space code point is one word by itself.
func whitespace(rs *runes, pos int, lines bool) int {
	n := len(rs.r)
	end, lastLine := pos, -1
	for end < n && isSpace(rs.r[end]) {
		if rs.r[end] == '\r' || rs.r[end] == '\n' {
			lastLine = end + 1
		}
		end++
	}
	switch {
	case lines && lastLine > 0:
		return lastLine // \s*[\r\n]+
	case end-pos > 1 && end < n:
		return end - 1 // \s+(?!\S): leave the last space to the next word
	case end > pos:
		return end // \s+
	}
	return pos + 1
}

// splitLlama3 is Llama-3's
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// as llama.cpp's unicode_regex_split_custom_llama3, with at most digits
// numbers in a word: 3 for Llama-3, 1 for Qwen2's \p{N} (llama.cpp runs that
// one through std::regex on category-collapsed text, which matches the
// same words).
func splitLlama3(text string, digits int, emit func(string)) {
	w := newWords(text, emit)
	rs := &w.runes
	for pos := 0; pos < len(rs.r); {
		c := rs.r[pos]
		if end := w.contraction(pos, true); end > 0 {
			pos = end
			w.cut(pos)
			continue
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if c != '\r' && c != '\n' && !isNumber(c) && (isLetter(c) || rs.letter(pos+1)) {
			for pos++; rs.letter(pos); pos++ {
			}
			w.cut(pos)
			continue
		}
		// \p{N}{1,digits}
		if isNumber(c) {
			start := pos
			for rs.number(pos) && pos-start < digits {
				pos++
			}
			w.cut(pos)
			continue
		}
		// ?[^\s\p{L}\p{N}]+[\r\n]*
		p := pos
		if c == ' ' {
			p++
		}
		if rs.other(p) {
			for p++; rs.other(p); p++ {
			}
			for r := rs.at(p); r == '\r' || r == '\n'; r = rs.at(p) {
				p++
			}
			pos = p
			w.cut(pos)
			continue
		}
		pos = whitespace(rs, pos, true)
		w.cut(pos)
	}
}

func splitLlama3Digits3(text string, emit func(string)) { splitLlama3(text, 3, emit) }
func splitLlama3Digits1(text string, emit func(string)) { splitLlama3(text, 1, emit) }

// splitSmolLM is llama.cpp's "smollm" (also "starcoder"): each \p{N} code
// point is a word by itself, and the text between them goes through GPT-2's
// split (tokenizer.json: Digits(individual_digits) then ByteLevel).
func splitSmolLM(text string, emit func(string)) {
	start := 0
	for i, r := range text {
		if isNumber(r) {
			if i > start {
				splitGPT2(text[start:i], emit)
			}
			size := utf8.RuneLen(r)
			emit(text[i : i+size])
			start = i + size
		}
	}
	if start < len(text) {
		splitGPT2(text[start:], emit)
	}
}
