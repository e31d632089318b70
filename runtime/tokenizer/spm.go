package tokenizer

import (
	"math"
	"strings"
)

// spaceEscape is U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space.
const spaceEscape = "\u2581"

// Encode tokenizes text as llama.cpp's llama_tokenize does with
// add_special=false and parse_special=false: no BOS, and control strings
// such as "<s>" are ordinary text.
//
// Steps, as in llama.cpp:
//  1. User-defined tokens (type 4) are split out of the text first, longest
//     first; they are matched even without parse_special.
//  2. Each remaining text fragment that is at the start of the text or
//     follows a user-defined token gets a leading space when AddSpacePrefix
//     is set. Nothing else is normalised: newlines, tabs and runs of spaces
//     are kept.
//  3. Spaces become U+2581 and the fragment goes through the SentencePiece
//     BPE merge (see spm) as a whole, however many lines it has.
//
// Encode("") is empty. Encode never panics for any input shorter than 2 GiB.
//
// Byte-level BPE vocabularies (Model "gpt2") skip steps 2 and 3: each
// fragment is cut into words by the pre-tokenizer and each word merged by
// rank (see encodeBPE).
func (t *Tokenizer) Encode(text string) []int {
	return t.EncodeWith(text, EncodeOptions{})
}

// EncodeOptions modify Encode.
type EncodeOptions struct {
	// ParseSpecial also splits out the texts of control and unknown tokens
	// (such as "<|im_start|>" or "<s>") as those tokens, as llama.cpp's
	// parse_special=true; otherwise they are ordinary text.
	ParseSpecial bool
	// AddSpecial puts BOS first when the vocabulary's AddBOS is set and
	// EOS last when AddEOS is, as llama.cpp's add_special=true (also for
	// an empty text).
	AddSpecial bool
}

// EncodeWith is Encode with options.
func (t *Tokenizer) EncodeWith(text string, opt EncodeOptions) []int {
	out := make([]int, 0, len(text)/3+2)
	if opt.AddSpecial && t.v.AddBOS {
		out = append(out, t.v.BOS)
	}
	out = t.encode(out, text, opt.ParseSpecial)
	if opt.AddSpecial && t.v.AddEOS {
		out = append(out, t.v.EOS)
	}
	return out
}

// encode appends the tokens of text to out.
func (t *Tokenizer) encode(out []int, text string, parseSpecial bool) []int {
	if text == "" {
		return out
	}
	specials := t.user
	if parseSpecial {
		specials = t.special
	}
	if t.bpe != nil {
		w := &bpeWork{}
		t.fragments(text, specials, func(frag string, id int32) {
			if id >= 0 {
				out = append(out, int(id))
				return
			}
			if t.v.NFC {
				frag = NFC(frag) // after the special tokens, as Hugging Face normalizes
			}
			out = t.encodeBPE(w, frag, out)
		})
		return out
	}
	w := &spmWork{}
	prevSpecial := true // the start of the text counts as after a special token
	t.fragments(text, specials, func(frag string, id int32) {
		if id >= 0 {
			out = append(out, int(id))
			prevSpecial = true
			return
		}
		if t.v.NFC {
			frag = NFC(frag)
		}
		s := strings.ReplaceAll(frag, " ", spaceEscape)
		if t.v.AddSpacePrefix && prevSpecial {
			s = spaceEscape + s
		}
		out = t.spm(w, s, out)
		prevSpecial = false
	})
	return out
}

// fragments calls emit for each part of text in order: the special tokens
// (longest first) as (_, id), the text between them as (text, -1). Like
// llama.cpp's tokenizer_st_partition, each token splits every raw fragment
// at all its non-overlapping occurrences before the next token is tried.
func (t *Tokenizer) fragments(text string, specials []userToken, emit func(string, int32)) {
	if text == "" {
		return // llama.cpp: no fragment at all, so not even the space prefix
	}
	if len(specials) == 0 {
		emit(text, -1)
		return
	}
	type frag struct {
		text string
		id   int32
	}
	frags := []frag{{text, -1}}
	for _, u := range specials {
		tok, id := u.text, u.id
		var next []frag
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			s := f.text
			for {
				i := strings.Index(s, tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, frag{s[:i], -1})
				}
				next = append(next, frag{"", id})
				s = s[i+len(tok):]
			}
			if s != "" {
				next = append(next, frag{s, -1})
			}
		}
		frags = next
	}
	for _, f := range frags {
		emit(f.text, f.id)
	}
}

// symbol is a span of the text being tokenized, linked to its neighbours
// within its segment. A symbol that was merged into its left neighbour has
// n == 0.
type symbol struct {
	start, n   int32
	prev, next int32 // -1 at the ends of the segment
	id         int32 // token whose text the span is, or -1
}

// bigram is a candidate merge of symbols left and right (its next) whose
// concatenation, size bytes long, is token id with the given score.
type bigram struct {
	score       float32
	left, right int32
	size        int32
	id          int32
}

// before reports whether a is merged before b: higher score first, then the
// leftmost (llama.cpp's llm_bigram_spm comparator).
func (a *bigram) before(b *bigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// spmWork holds buffers reused across the segments of one Encode call.
type spmWork struct {
	sym  []symbol
	heap bigramHeap
}

// Pair classes in Tokenizer.pairs and fastPairs, besides a token id (≥ 0).
const (
	pairInside = -1 // the two characters are adjacent inside some token
	pairCut    = -2 // they are adjacent in no token: no merge crosses them
)

// spm appends the tokens of s (already space-escaped) to out, exactly as
// llama.cpp's llm_tokenizer_spm_session::tokenize on the whole of s:
//
//   - split s into UTF-8 characters (the length comes from the lead byte;
//     invalid bytes are single symbols, a truncated tail is one symbol);
//   - queue every adjacent pair whose concatenation is a token;
//   - repeatedly merge the queued pair with the highest token score
//     (leftmost on ties), skipping pairs whose symbols changed since they
//     were queued, and queue the new pairs with the merged symbol's
//     neighbours;
//   - emit each final symbol as its token, or, if it is not a token (only
//     possible for an unmerged character), as one byte token per byte.
//
// For speed, s is cut between adjacent characters that are adjacent in no
// token at all (pairCut): no merge can ever cross such a cut, so the merges
// on the two sides do not interact, and running the merge loop on each
// segment alone gives exactly the merges of the whole (each side's
// candidates, and so the order of its merges, depend only on that side).
// With a LLaMA vocabulary a segment is about a word, which keeps the
// priority queue small. The merge loop is O(n log n) in a segment's
// characters n.
func (t *Tokenizer) spm(w *spmWork, s string, out []int) []int {
	if len(s) > math.MaxInt32 {
		panic("tokenizer: text fragment longer than 2 GiB")
	}
	sym := w.sym[:0]
	w.heap = w.heap[:0]
	prevCode := -1
	for off := 0; off < len(s); {
		code, n := fastChar(s, off)
		id := int32(-1)
		if code >= 0 {
			id = t.fastChars[code]
		} else if x, ok := t.ids[s[off:off+n]]; ok {
			id = x
		}
		if len(sym) > 0 {
			last := &sym[len(sym)-1]
			pair := int32(pairCut)
			if prevCode >= 0 && code >= 0 {
				pair = t.fastPairs[prevCode*fastCodes+code]
			} else if x, ok := t.pairs[s[last.start:off+n]]; ok {
				pair = x
			}
			if pair == pairCut {
				w.sym = sym
				out = t.merge(w, s, out)
				sym = w.sym[:0]
			} else if pair >= 0 {
				w.heap = append(w.heap, bigram{score: t.v.Scores[pair], left: int32(len(sym) - 1), right: int32(len(sym)), size: last.n + int32(n), id: pair})
			}
		}
		i := int32(len(sym))
		sym = append(sym, symbol{start: int32(off), n: int32(n), prev: i - 1, next: i + 1, id: id})
		prevCode = code
		off += n
	}
	w.sym = sym
	return t.merge(w, s, out)
}

// merge runs the merge loop on the segment in w.sym, whose initial pairs
// are in w.heap (not yet in heap order), appends its tokens to out and
// empties w.sym and w.heap.
func (t *Tokenizer) merge(w *spmWork, s string, out []int) []int {
	sym := w.sym
	if len(sym) == 0 {
		return out
	}
	sym[len(sym)-1].next = -1
	w.heap.heapify()
	for len(w.heap) > 0 {
		b := w.heap.pop()
		l, r := &sym[b.left], &sym[b.right]
		// Skip a stale pair: one side was merged away or grew since queued.
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		l.id = b.id
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			sym[r.next].prev = b.left
		}
		t.tryAddBigram(w, s, l.prev, b.left)
		t.tryAddBigram(w, s, b.left, l.next)
	}
	for i := int32(0); i != -1; i = sym[i].next {
		if id := sym[i].id; id >= 0 {
			out = append(out, int(id))
			continue
		}
		// Not a token: a single character (merged symbols are tokens),
		// emitted byte by byte as in llama.cpp's resegment.
		for j := sym[i].start; j < sym[i].start+sym[i].n; j++ {
			out = append(out, int(t.fall[s[j]]))
		}
	}
	w.sym = sym[:0]
	return out
}

// tryAddBigram queues the pair (left, right) if its text is a token.
func (t *Tokenizer) tryAddBigram(w *spmWork, s string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := &w.sym[left], &w.sym[right]
	size := l.n + r.n
	if int(size) > t.maxLen {
		return
	}
	id, ok := t.ids[s[l.start:l.start+size]]
	if !ok {
		return
	}
	w.heap.push(bigram{score: t.v.Scores[id], left: left, right: right, size: size, id: id})
}

// fastCodes is the number of characters with table entries: the ASCII
// bytes 0..127 and U+2581 as 128.
const fastCodes = 129

// fastChar returns the table code of the character at s[off] (-1 if it has
// none) and its length in bytes.
func fastChar(s string, off int) (code, n int) {
	c := s[off]
	if c < 0x80 {
		return int(c), 1
	}
	n = min(utf8Len(c), len(s)-off)
	if n == 3 && s[off:off+3] == spaceEscape {
		return 128, 3
	}
	return -1, n
}

// bigramHeap is a binary heap of candidate merges, first by
// bigram.before; the SentencePiece and byte-level merges share it.
type bigramHeap []bigram

func (h *bigramHeap) heapify() {
	for i := len(*h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *bigramHeap) push(b bigram) {
	*h = append(*h, b)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q[i].before(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	*h = q[:n]
	h.down(0)
	return top
}

func (h *bigramHeap) down(i int) {
	q := *h
	n := len(q)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && q[c+1].before(&q[c]) {
			c++
		}
		if !q[c].before(&q[i]) {
			return
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
}

// utf8Len is the sequence length announced by a UTF-8 lead byte, as
// llama.cpp's unicode_len_utf8: continuation and invalid bytes count as 1.
func utf8Len(b byte) int {
	return int(utf8LenTable[b>>4])
}

var utf8LenTable = [16]uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}
