package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM): tokenizer.ggml.model =
// "gpt2". Token texts are written in GPT-2's byte alphabet: every byte of
// the UTF-8 text is one printable code point (byteRune), so "Ġ" (U+0120)
// stands for the byte ' '. Encoding cuts the text into words with the
// pre-tokenizer, maps each word's bytes to that alphabet and merges adjacent
// symbols by merge rank, lowest first, as llama.cpp's
// llm_tokenizer_bpe_session does.

// byteRune[b] is the code point that stands for byte b in token texts:
// printable Latin-1 bytes stand for themselves, the other 68 bytes are
// U+0100 onwards in byte order (GPT-2's bytes_to_unicode).
var byteRune, runeByte = func() (br [256]rune, rb map[rune]byte) {
	rb = make(map[rune]byte, 256)
	next := rune(256)
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			br[b] = rune(b)
		} else {
			br[b] = next
			next++
		}
		rb[br[b]] = byte(b)
	}
	return
}()

// byteText[b] is byteRune[b] as UTF-8.
var byteText = func() (s [256]string) {
	for b := range s {
		s[b] = string(byteRune[b])
	}
	return
}()

// byteLevel maps the bytes of s to the byte alphabet.
func byteLevel(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteString(byteText[s[i]])
	}
	return b.String()
}

// unByteLevel maps a token text in the byte alphabet back to bytes. A code
// point outside the alphabet is kept as its UTF-8 (llama.cpp writes a
// "[UNK_BYTE_…]" marker there instead; tokens of real vocabularies have
// none).
func unByteLevel(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := runeByte[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}

// bpeModel is the byte-level part of a Tokenizer.
type bpeModel struct {
	pre    preTokenizer
	merges map[[2]int32]merge // (left, right) token ids → the merge
	// chars[b] is the token of byteText[b] as one symbol, -1 if the
	// vocabulary lacks it.
	chars [256]int32
	// raw[b] is the token whose text is the single byte b itself, which
	// llama.cpp emits for the bytes of a symbol that is no token (never
	// the case in a complete byte-level vocabulary), -1 if none.
	raw [256]int32
}

type merge struct {
	rank int32
	id   int32 // the merged token
}

func newBPEModel(t *Tokenizer, v *Vocab) (*bpeModel, error) {
	pre, err := lookupPre(v.Pre)
	if err != nil {
		return nil, err
	}
	if len(v.Merges) == 0 {
		return nil, fmt.Errorf("tokenizer: the byte-level BPE vocabulary has no merges (tokenizer.ggml.merges)")
	}
	if len(v.Merges) > 1<<24 {
		// Ranks are ordered as float32 scores (see pushMerge), exact to 2^24.
		return nil, fmt.Errorf("tokenizer: %d merges is too many (at most %d)", len(v.Merges), 1<<24)
	}
	m := &bpeModel{pre: pre, merges: make(map[[2]int32]merge, len(v.Merges))}
	for i, s := range v.Merges {
		// llama.cpp splits at the first space after the first byte, so a
		// left side may itself start with a space.
		sp := strings.IndexByte(s[min(1, len(s)):], ' ')
		if sp < 0 {
			return nil, fmt.Errorf("tokenizer: merge %d (%q) is not two tokens separated by a space", i, s)
		}
		sp += min(1, len(s))
		left, right := s[:sp], s[sp+1:]
		l, okl := t.ids[left]
		r, okr := t.ids[right]
		id, okm := t.ids[left+right]
		switch {
		case !okl:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): %q is not a token", i, s, left)
		case !okr:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): %q is not a token", i, s, right)
		case !okm:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): the merged %q is not a token", i, s, left+right)
		}
		if _, dup := m.merges[[2]int32{l, r}]; !dup { // the first rank counts, as in llama.cpp
			m.merges[[2]int32{l, r}] = merge{int32(i), id}
		}
	}
	for b := range 256 {
		m.chars[b], m.raw[b] = -1, -1
		if id, ok := t.ids[byteText[b]]; ok {
			m.chars[b] = id
		}
		if id, ok := t.ids[byteStrings[b]]; ok {
			m.raw[b] = id
		}
	}
	return m, nil
}

// bpeWork is the reusable state of one Encode call.
type bpeWork struct {
	enc  []byte // the word in the byte alphabet
	syms []symbol
	heap bigramHeap
	// words caches the tokens of short words seen in this call: prose
	// repeats most of its words, and a lookup is much cheaper than the
	// merges.
	words map[string][]int32
}

const (
	cacheWordLen = 32      // longest word (bytes) that is cached
	cacheWords   = 1 << 16 // the cache is cleared when it holds this many
)

// encodeBPE appends the tokens of a raw-text fragment (no special tokens in
// it) to out.
func (t *Tokenizer) encodeBPE(w *bpeWork, text string, out []int) []int {
	if w.words == nil {
		w.words = make(map[string][]int32)
	}
	t.bpe.pre.split(text, func(word string) {
		if len(word) > cacheWordLen {
			out = t.bpeWord(w, word, out)
			return
		}
		if ids, ok := w.words[word]; ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return
		}
		n := len(out)
		out = t.bpeWord(w, word, out)
		if len(w.words) >= cacheWords {
			clear(w.words)
		}
		ids := make([]int32, len(out)-n)
		for i, id := range out[n:] {
			ids[i] = int32(id)
		}
		w.words[word] = ids
	})
	return out
}

// bpeWord merges one word. Symbols are spans of w.enc, each one code point
// of the byte alphabet at first; the heap holds candidate merges of
// adjacent symbols ordered by rank, then leftmost (llama.cpp's
// llm_bigram_bpe comparator). A candidate is stale when either side has
// changed since it was pushed, which its recorded size detects. Each merge
// removes a symbol and pushes at most two candidates, so a word of n bytes
// costs O(n log n).
func (t *Tokenizer) bpeWord(w *bpeWork, word string, out []int) []int {
	m := t.bpe
	if word == "" {
		return out // splitters emit no empty words; this keeps syms non-empty regardless
	}
	if !utf8.ValidString(word) {
		// llama.cpp decodes the text to code points first, each invalid
		// byte becoming U+FFFD, and encodes that.
		word = replaceInvalid(word)
	}
	w.enc = w.enc[:0]
	for i := 0; i < len(word); i++ {
		w.enc = append(w.enc, byteText[word[i]]...)
	}
	if m.pre.ignoreMerges {
		if id, ok := t.ids[string(w.enc)]; ok {
			return append(out, int(id))
		}
	}
	w.syms = w.syms[:0]
	off := 0
	for i := 0; i < len(word); i++ {
		n := len(byteText[word[i]])
		w.syms = append(w.syms, symbol{start: int32(off), n: int32(n), prev: int32(i - 1), next: int32(i + 1), id: m.chars[word[i]]})
		off += n
	}
	w.syms[len(w.syms)-1].next = -1
	w.heap = w.heap[:0]
	for i := 1; i < len(w.syms); i++ {
		t.pushMerge(w, int32(i-1), int32(i))
	}
	for len(w.heap) > 0 {
		b := w.heap.pop()
		l, r := &w.syms[b.left], &w.syms[b.right]
		if l.n == 0 || r.n == 0 || l.next != b.right || l.n+r.n != b.size {
			continue // stale: a side was merged away or grew
		}
		l.n += r.n
		l.id = b.id
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			w.syms[r.next].prev = b.left
		}
		if l.prev >= 0 {
			t.pushMerge(w, l.prev, b.left)
		}
		if l.next >= 0 {
			t.pushMerge(w, b.left, l.next)
		}
	}
	for i := int32(0); i >= 0; i = w.syms[i].next {
		s := &w.syms[i]
		if s.id >= 0 {
			out = append(out, int(s.id))
			continue
		}
		// Not a token: llama.cpp emits the tokens of the symbol's single
		// bytes where there are any (in the byte alphabet these are the
		// bytes of the code point's UTF-8, so in practice nothing).
		for _, c := range w.enc[s.start : s.start+s.n] {
			if id := m.raw[c]; id >= 0 {
				out = append(out, int(id))
			}
		}
	}
	return out
}

// pushMerge adds the candidate merge of symbols left and right (adjacent)
// if the pair is a merge.
func (t *Tokenizer) pushMerge(w *bpeWork, left, right int32) {
	l, r := &w.syms[left], &w.syms[right]
	if l.id < 0 || r.id < 0 {
		return
	}
	mg, ok := t.bpe.merges[[2]int32{l.id, r.id}]
	if !ok {
		return
	}
	// score is the negated rank so that bigram.before (higher score, then
	// leftmost) orders by lowest rank, then leftmost.
	w.heap.push(bigram{score: -float32(mg.rank), left: left, right: right, size: l.n + r.n, id: mg.id})
}

// replaceInvalid replaces each byte of s that is not part of a valid UTF-8
// sequence by U+FFFD, as llama.cpp's unicode_cpts_from_utf8 does for stray
// and truncated sequences. (It decodes overlong forms and surrogates that
// Go treats as invalid; Shear replaces those bytes too.)
func replaceInvalid(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
