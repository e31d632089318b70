package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// naiveEncode is the reference for Encode: the same SentencePiece BPE done
// the obvious O(n²) way, rescanning all adjacent pairs for the best merge
// (highest score, leftmost on ties) after every merge.
func naiveEncode(tok *Tokenizer, text string) []int {
	var out []int
	prevSpecial := true
	tok.fragments(text, tok.user, func(frag string, id int32) {
		if id >= 0 {
			out = append(out, int(id))
			prevSpecial = true
			return
		}
		s := strings.ReplaceAll(frag, " ", spaceEscape)
		if tok.v.AddSpacePrefix && prevSpecial {
			s = spaceEscape + s
		}
		prevSpecial = false
		var syms []string
		for off := 0; off < len(s); {
			n := min(utf8Len(s[off]), len(s)-off)
			syms = append(syms, s[off:off+n])
			off += n
		}
		for {
			best, bestScore := -1, float32(0)
			for i := 0; i+1 < len(syms); i++ {
				id, ok := tok.ids[syms[i]+syms[i+1]]
				if ok && (best < 0 || tok.v.Scores[id] > bestScore) {
					best, bestScore = i, tok.v.Scores[id]
				}
			}
			if best < 0 {
				break
			}
			syms[best] += syms[best+1]
			syms = append(syms[:best+1], syms[best+2:]...)
		}
		for _, sym := range syms {
			if id, ok := tok.ids[sym]; ok {
				out = append(out, int(id))
				continue
			}
			for j := 0; j < len(sym); j++ {
				out = append(out, int(tok.fall[sym[j]]))
			}
		}
	})
	return out
}

// FuzzEncode checks, on the LLaMA vocabulary (32000 tokens) and on the
// 512-token stories260K vocabulary (which falls back to bytes often):
//   - Encode never panics and every id is in range;
//   - Encode equals the naive reference naiveEncode;
//   - Decode(Encode(s)) == s whenever roundTrips says it must: s is valid
//     UTF-8 without a literal U+2581 or user-defined token text, and no
//     control/unknown/unused token came out. (Invalid UTF-8 does not round
//     trip in general: a stray lead byte swallows the following bytes, for
//     example the first byte of an escaped space, into one symbol.)
func FuzzEncode(f *testing.F) {
	toks := []*Tokenizer{
		load(f, "models/ggml-vocab-llama-spm.gguf"),
		load(f, "models/stories260K.gguf"),
	}
	addSeeds(f, "models/ggml-vocab-llama-spm.gguf.inp", "", " ", "\n", "<s>", "</s>", "<unk>", "<0x0A>", "▁", "a\xffb", "\xe4\xbd", "Once upon a time")
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			ids := tok.Encode(s)
			checkRange(t, tok, s, ids)
			if want := naiveEncode(tok, s); !equalIDs(ids, want) {
				t.Fatalf("Encode(%q) = %v, reference %v", s, ids, want)
			}
			if roundTrips(tok, s, ids) {
				if d := tok.Decode(ids); d != s {
					t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, d, ids)
				}
			}
			if s != "" && utf8.ValidString(s) && len(ids) == 0 {
				t.Fatalf("Encode(%q) is empty", s)
			}
		}
	})
}

// addSeeds adds the strings of a shared llama.cpp .inp file and extra as
// seeds.
func addSeeds(f *testing.F, inp string, extra ...string) {
	for _, s := range strings.Split(string(readShared(f, inp)), "\n__ggml_vocab_test__\n") {
		f.Add(s)
	}
	for _, s := range extra {
		f.Add(s)
	}
}

// checkRange fails unless every id Encode(s) gave is in the vocabulary.
func checkRange(t *testing.T, tok *Tokenizer, s string, ids []int) {
	t.Helper()
	for _, id := range ids {
		if id < 0 || id >= tok.Size() {
			t.Fatalf("%s %s: Encode(%q): id %d out of range", tok.v.Model, tok.v.Pre, s, id)
		}
	}
}
