package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// naiveBPE is the textbook byte-level BPE, independent of the heap in
// bpeWord: split into words with the pre-tokenizer, then in each word merge
// the adjacent pair of lowest rank (leftmost on ties) until none is left,
// comparing texts rather than ids. O(n²) per word.
func naiveBPE(tok *Tokenizer, text string) []int {
	rank := mergeRanks(tok)
	var out []int
	tok.fragments(text, tok.user, func(frag string, id int32) {
		if id >= 0 {
			out = append(out, int(id))
			return
		}
		tok.bpe.pre.split(frag, func(word string) {
			enc := byteLevel(replaceInvalid(word))
			if id, ok := tok.ids[enc]; ok && tok.bpe.pre.ignoreMerges {
				out = append(out, int(id))
				return
			}
			var syms []string
			for _, r := range enc {
				syms = append(syms, string(r))
			}
			for {
				best, at := -1, -1
				for i := 0; i+1 < len(syms); i++ {
					if r, ok := rank[syms[i]+" "+syms[i+1]]; ok && (best < 0 || r < best) {
						best, at = r, i
					}
				}
				if at < 0 {
					break
				}
				syms = append(syms[:at], append([]string{syms[at] + syms[at+1]}, syms[at+2:]...)...)
			}
			for _, s := range syms {
				if id, ok := tok.ids[s]; ok {
					out = append(out, int(id))
					continue
				}
				for i := 0; i < len(s); i++ {
					if id, ok := tok.ids[s[i:i+1]]; ok {
						out = append(out, int(id))
					}
				}
			}
		})
	})
	return out
}

var ranksCache sync.Map // *Tokenizer → map[string]int

// mergeRanks maps each merge text "left right" to its first rank.
func mergeRanks(tok *Tokenizer) map[string]int {
	if r, ok := ranksCache.Load(tok); ok {
		return r.(map[string]int)
	}
	rank := make(map[string]int, len(tok.v.Merges))
	for i, m := range tok.v.Merges {
		if _, dup := rank[m]; !dup {
			rank[m] = i
		}
	}
	ranksCache.Store(tok, rank)
	return rank
}

// fuzzBPETokenizers are GPT-2's vocabulary under each pre-tokenizer, so
// all splitters run with a complete byte alphabet. (Qwen3's vocabulary
// takes seconds to load in each fuzz worker; the vectors and interop tests
// cover it.)
func fuzzBPETokenizers(t testing.TB) []*Tokenizer {
	gpt2 := load(t, "models/vocab-tests/ggml-vocab-gpt-2.gguf")
	toks := []*Tokenizer{gpt2}
	for _, pre := range []string{"llama-bpe", "qwen2", "smollm"} {
		v := gpt2.Vocab()
		v.Pre = pre
		tok, err := New(v)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks
}

// FuzzEncodeBPE checks byte-level encoding on arbitrary text:
//   - Encode never panics and every id is in range;
//   - Encode equals naiveBPE (for inputs up to 256 bytes: the reference is
//     cubic in the length of a word);
//   - Decode(Encode(s)) == s for valid UTF-8 (no special-token parsing, so
//     every byte comes back);
//   - non-empty text gives tokens.
func FuzzEncodeBPE(f *testing.F) {
	toks := fuzzBPETokenizers(f)
	addSeeds(f, "models/vocab-tests/ggml-vocab-llama-bpe.gguf.inp",
		"", " ", "  \n\n ", "<|endoftext|>", "<think>x</think>", "a\xffb", "\xe4\xbd", "'S 'll 'LL", "１２３4567", "\u2028\u00a0x")
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			ids := tok.Encode(s)
			checkRange(t, tok, s, ids)
			if len(s) <= 256 {
				if want := naiveBPE(tok, s); !equalIDs(ids, want) {
					t.Fatalf("%s: Encode(%q) = %v, reference %v", tok.v.Pre, s, ids, want)
				}
			}
			if utf8.ValidString(s) {
				if d := tok.Decode(ids); d != s {
					t.Fatalf("%s: Decode(Encode(%q)) = %q (ids %v)", tok.v.Pre, s, d, ids)
				}
			}
			if s != "" && len(ids) == 0 {
				t.Fatalf("%s: Encode(%q) is empty", tok.v.Pre, s)
			}
		}
	})
}

// FuzzParseHF feeds mutated tokenizer.json (and tokenizer_config.json)
// files to ParseHF: it must return a vocabulary New accepts or an error,
// never panic, and a vocabulary it returns must encode and decode text.
func FuzzParseHF(f *testing.F) {
	const tj = `{"added_tokens": [{"id": 5, "content": "<|end|>", "special": true}, {"id": 6, "content": "<x>", "special": false}],
 "normalizer": %s, "pre_tokenizer": %s,
 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": %s}}`
	pres := []string{
		`{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`,
		`{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "use_regex": true}]}`,
		`{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` + jsonString(qwen2Regex) + `}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}`,
	}
	for i, pre := range pres {
		merges := `["a b", "Ġ ab"]`
		if i == 1 {
			merges = `[["a", "b"], ["Ġ", "ab"]]`
		}
		f.Add(fmt.Sprintf(tj, "null", pre, merges), `{"eos_token": "<|end|>", "add_bos_token": false}`)
		f.Add(fmt.Sprintf(tj, `{"type": "NFC"}`, pre, merges), `{"bos_token": {"content": "<|end|>"}}`)
	}
	f.Add(`{"model": {"type": "Unigram"}}`, ``)
	f.Add(`{"model": {"type": "BPE", "vocab": {"a": 16777215, "aa": 0}, "merges": ["a a"]}, "pre_tokenizer": {"type": "ByteLevel"}}`, ``)
	f.Fuzz(func(t *testing.T, tokenizerJSON, tokenizerConfig string) {
		if len(tokenizerJSON) > 1<<16 {
			return
		}
		v, err := ParseHF([]byte(tokenizerJSON), []byte(tokenizerConfig), nil, 0)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		tok, err := New(v)
		if err != nil {
			t.Fatalf("ParseHF returned a vocabulary New refuses: %v", err)
		}
		ids := tok.Encode("ab ab")
		for _, id := range ids {
			if id < 0 || id >= tok.Size() {
				t.Fatalf("id %d out of range", id)
			}
		}
		tok.Decode(ids)
	})
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
