package tokenizer

import (
	"testing"
	"unicode/utf8"
)

// checkVectors runs llama.cpp's test-tokenizer-0 vectors for a byte-level
// vocabulary: every case must match, and every valid-UTF-8 case must decode
// back to its text.
func checkVectors(t *testing.T, tok *Tokenizer, inp, out string) {
	t.Helper()
	texts, want := vocabTests(t, readShared(t, inp), readShared(t, out))
	for i, s := range texts {
		got := tok.Encode(s)
		if !equalIDs(got, want[i]) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, s, got, want[i])
			continue
		}
		if d := tok.Decode(got); utf8.ValidString(s) && d != s {
			t.Errorf("case %d: Decode(Encode(%q)) = %q", i, s, d)
		}
	}
	t.Logf("%d cases", len(texts))
}

func TestGPT2Vectors(t *testing.T) {
	tok := load(t, "models/vocab-tests/ggml-vocab-gpt-2.gguf")
	if tok.bpe == nil {
		t.Fatal("ggml-vocab-gpt-2.gguf did not load as byte-level BPE")
	}
	checkVectors(t, tok, "models/vocab-tests/ggml-vocab-gpt-2.gguf.inp", "models/vocab-tests/ggml-vocab-gpt-2.gguf.out")
}
