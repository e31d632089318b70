package tokenizer

import (
	"sync"
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

var (
	hfMu    sync.Mutex
	hfCache = map[string]*Tokenizer{}
)

// loadHF reads a shared tokenizer.json directory once per test binary.
func loadHF(t testing.TB, rel string) *Tokenizer {
	t.Helper()
	dir := sharedPath(t, rel)
	hfMu.Lock()
	defer hfMu.Unlock()
	if tok, ok := hfCache[dir]; ok {
		return tok
	}
	v, err := FromHFDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	hfCache[dir] = tok
	return tok
}

func TestLlamaBPEVectors(t *testing.T) {
	tok := loadHF(t, "models/tokenizers/llama3")
	if v := tok.Vocab(); v.Pre != "llama-bpe" || v.BOS != 128000 || v.EOS != 128001 || !v.AddBOS {
		t.Errorf("llama3 tokenizer.json: pre %q bos %d eos %d add_bos %v, want llama-bpe 128000 128001 true", v.Pre, v.BOS, v.EOS, v.AddBOS)
	}
	checkVectors(t, tok, "models/vocab-tests/ggml-vocab-llama-bpe.gguf.inp", "models/vocab-tests/ggml-vocab-llama-bpe.gguf.out")
}
