package tokenizer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shear-ai/shear/runtime/gguf"
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

func TestLlamaBPEVectors(t *testing.T) {
	tok := load(t, "models/tokenizers/llama3")
	if v := tok.Vocab(); v.Pre != "llama-bpe" || v.BOS != 128000 || v.EOS != 128001 || !v.AddBOS {
		t.Errorf("llama3 tokenizer.json: pre %q bos %d eos %d add_bos %v, want llama-bpe 128000 128001 true", v.Pre, v.BOS, v.EOS, v.AddBOS)
	}
	checkVectors(t, tok, "models/vocab-tests/ggml-vocab-llama-bpe.gguf.inp", "models/vocab-tests/ggml-vocab-llama-bpe.gguf.out")
}

// megabyteText is 1 MB of English prose from ../shared.
func megabyteText(t testing.TB) string {
	s := string(readShared(t, "data/public-domain/emma.txt")) + string(readShared(t, "data/tinystories-dev.txt"))
	return s[:1<<20]
}

// BenchmarkEncodeMegabyte encodes 1 MB of prose with Qwen3's and
// Llama-3's tokenizer.json vocabularies.
func BenchmarkEncodeMegabyte(b *testing.B) {
	text := megabyteText(b)
	for _, name := range []string{"qwen3", "llama3"} {
		b.Run(name, func(b *testing.B) {
			tok := load(b, "models/tokenizers/"+name)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				tok.Encode(text)
			}
		})
	}
}

// TestEncodeNotQuadratic times texts of 32 and 128 KiB, prose and single
// words that no pre-tokenizer cuts (letters, a symbol run, spaces): the 4×
// longer text must take under 12× as long (quadratic is 16×; O(n log n) is
// 4.5×, measured 2.5–7× as the heap outgrows the caches). The machine is
// shared, so short and long runs alternate and the fastest of five of each
// counts.
func TestEncodeNotQuadratic(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	tok := load(t, "models/tokenizers/qwen3")
	prose := megabyteText(t)
	timed := func(s string) time.Duration {
		start := time.Now()
		tok.Encode(s)
		return time.Since(start)
	}
	for _, c := range []struct{ name, long string }{
		{"prose", prose[:1<<17]},
		{"one word", strings.Repeat("abcé", 1<<15)},
		{"one symbol run", strings.Repeat("=-", 1<<16)},
		{"spaces", strings.Repeat(" ", 1<<17)},
	} {
		short := c.long[:len(c.long)/4]
		ts, tl := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range 5 {
			ts = min(ts, timed(short))
			tl = min(tl, timed(c.long))
		}
		ratio := float64(tl) / float64(ts)
		t.Logf("%s: 32 KiB %v, 128 KiB %v (×%.1f)", c.name, ts, tl, ratio)
		if ratio > 12 {
			t.Errorf("%s: 4× the text took %.1f× as long: encoding is not O(n log n)", c.name, ratio)
		}
	}
}

// vocabGGUF writes v's GGUFKeys to a GGUF file and parses it back.
func vocabGGUF(t *testing.T, v Vocab, set func(b *gguf.Builder)) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	for _, kv := range v.GGUFKeys() {
		b.SetKV(kv)
	}
	if set != nil {
		set(b)
	}
	return parseBuilder(t, b)
}

// TestBPEGGUFRoundTrip: the GGUF keys Shear writes for a byte-level
// vocabulary read back as the same vocabulary and tokenizer, for
// llama.cpp's gpt-2 file and for both tokenizer.json directories.
func TestBPEGGUFRoundTrip(t *testing.T) {
	toks := map[string]*Tokenizer{
		"gpt-2":  load(t, "models/vocab-tests/ggml-vocab-gpt-2.gguf"),
		"llama3": load(t, "models/tokenizers/llama3"),
		"qwen3":  load(t, "models/tokenizers/qwen3"),
	}
	texts, _ := vocabTests(t, readShared(t, "models/vocab-tests/ggml-vocab-llama-bpe.gguf.inp"), readShared(t, "models/vocab-tests/ggml-vocab-llama-bpe.gguf.out"))
	for name, tok := range toks {
		v := tok.Vocab()
		got, err := VocabFromGGUF(vocabGGUF(t, v, nil))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// GGUF cannot say "no BOS": llama.cpp then takes id 11 (Qwen3
		// without config.json; add_bos is false, so it is never used).
		if v.BOS < 0 && got.BOS == 11 {
			got.BOS = -1
		}
		// Nor has GGUF a normalizer: llama.cpp does not apply Qwen's NFC.
		if got.NFC {
			t.Errorf("%s: NFC read from GGUF", name)
		}
		got.NFC = v.NFC
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: vocabulary changed through GGUF: model %q→%q pre %q→%q bos %d→%d eos %d→%d add_bos %v→%v",
				name, v.Model, got.Model, v.Pre, got.Pre, v.BOS, got.BOS, v.EOS, got.EOS, v.AddBOS, got.AddBOS)
		}
		tok2, err := New(got)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range texts {
			if v.NFC && !isNFC(s) {
				continue
			}
			if a, b := tok.Encode(s), tok2.Encode(s); !equalIDs(a, b) {
				t.Errorf("%s: %q encodes as %v before and %v after the round trip", name, s, a, b)
			}
		}
	}
}

// TestQwen3Vocab checks the converter's rules on Qwen3's tokenizer.json:
// the id layout, control vs user-defined added tokens, the special ids and
// the pre-tokenizer.
func TestQwen3Vocab(t *testing.T) {
	tok := load(t, "models/tokenizers/qwen3")
	v := tok.Vocab()
	if v.Pre != "qwen2" || v.BOS != -1 || v.EOS != 151645 || v.AddBOS || len(v.Tokens) != 151669 || len(v.Merges) != 151387 {
		t.Errorf("pre %q bos %d eos %d add_bos %v tokens %d merges %d, want qwen2 -1 151645 false 151669 151387",
			v.Pre, v.BOS, v.EOS, v.AddBOS, len(v.Tokens), len(v.Merges))
	}
	for _, c := range []struct {
		text string
		typ  int32
	}{
		{"<|endoftext|>", TypeControl}, {"<|im_start|>", TypeControl},
		{"<|fim_prefix|>", TypeControl}, // not special in the file, but looks it
		{"<think>", TypeUserDefined}, {"</tool_call>", TypeUserDefined},
		{"Hello", TypeNormal}, {"Ġworld", TypeNormal},
	} {
		id, ok := tok.ids[c.text]
		if !ok || v.Types[id] != c.typ {
			t.Errorf("%q: present %v type %d, want type %d", c.text, ok, v.Types[id], c.typ)
		}
	}
	// With config.json beside it, its ids fill in BOS as the converter does.
	dir := sharedPath(t, "models/tokenizers/qwen3")
	tj, _ := os.ReadFile(filepath.Join(dir, HFTokenizerFile))
	tc, _ := os.ReadFile(filepath.Join(dir, HFTokenizerConfigFile))
	v2, err := ParseHF(tj, tc, []byte(`{"bos_token_id": 151643, "eos_token_id": 151643, "vocab_size": 151936}`), 151936)
	if err != nil {
		t.Fatal(err)
	}
	if v2.BOS != 151643 || v2.EOS != 151645 || len(v2.Tokens) != 151936 || v2.Tokens[151935] != "[PAD151935]" || v2.Types[151935] != TypeUnused {
		t.Errorf("with config.json: bos %d eos %d tokens %d last %q type %d", v2.BOS, v2.EOS, len(v2.Tokens), v2.Tokens[len(v2.Tokens)-1], v2.Types[len(v2.Types)-1])
	}
}

// tinyBPE is a byte-level vocabulary small enough to reason about: the
// letters a, b, c, space, and merges "a b" (rank 0), "Ġ a" (1), "ab c" (2),
// "b c" (3).
func tinyBPE(t *testing.T, pre string, extra ...string) *Tokenizer {
	t.Helper()
	tokens := []string{"a", "b", "c", "Ġ", "ab", "Ġa", "abc", "bc"}
	types := []int32{1, 1, 1, 1, 1, 1, 1, 1}
	for _, e := range extra {
		tokens = append(tokens, e)
		types = append(types, TypeControl)
	}
	tokens = append(tokens, "<u>")
	types = append(types, TypeUserDefined)
	tok, err := New(Vocab{Model: ModelBPE, Pre: pre, Tokens: tokens, Types: types,
		Merges: []string{"a b", "Ġ a", "ab c", "b c"}, BOS: -1, EOS: -1, UNK: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBPEMergeOrder(t *testing.T) {
	tok := tinyBPE(t, "gpt-2", "<s>")
	for _, c := range []struct {
		text string
		want []int
	}{
		{"abc", []int{6}},           // a+b (rank 0) first, then ab+c
		{"bc", []int{7}},            // only b+c applies
		{" abc", []int{3, 6}},       // " abc" is one word; a+b before Ġ+a, then no Ġ+ab merge
		{" a", []int{5}},            // Ġ+a
		{"cab", []int{2, 4}},        // c stays, a+b
		{"a<u>b", []int{0, 9, 1}},   // user-defined tokens are always split out
		{"<s>", []int{0 /*<*/}[:0]}, // control text is not parsed: '<' and 's' are no tokens here
		{"d", nil},                  // a character without a token has no output (llama.cpp)
	} {
		got := tok.Encode(c.text)
		if !equalIDs(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.text, got, c.want)
		}
	}
	if got := tok.EncodeWith("a<s>b", EncodeOptions{ParseSpecial: true}); !equalIDs(got, []int{0, 8, 1}) {
		t.Errorf("ParseSpecial: got %v, want [0 8 1]", got)
	}
	if got := tok.Decode([]int{3, 6, 8, 9}); got != " abc<u>" {
		t.Errorf("Decode = %q, want \" abc<u>\" (control tokens decode to nothing)", got)
	}
}

func TestBPEErrors(t *testing.T) {
	good := Vocab{Model: ModelBPE, Pre: "gpt-2", Tokens: []string{"a", "b", "ab"}, Types: []int32{1, 1, 1}, Merges: []string{"a b"}, BOS: -1, EOS: -1, UNK: -1}
	for _, c := range []struct {
		name string
		edit func(v *Vocab)
		want string
	}{
		{"unknown pre", func(v *Vocab) { v.Pre = "tekken" }, `unknown pre-tokenizer "tekken"`},
		{"no pre", func(v *Vocab) { v.Pre = "" }, "names no pre-tokenizer"},
		{"no merges", func(v *Vocab) { v.Merges = nil }, "no merges"},
		{"bad merge", func(v *Vocab) { v.Merges = []string{"ab"} }, `merge 0 ("ab") is not two tokens`},
		{"merge side", func(v *Vocab) { v.Merges = []string{"a c"} }, `"c" is not a token`},
		{"merge result", func(v *Vocab) { v.Merges = []string{"b a"} }, `the merged "ba" is not a token`},
		{"model", func(v *Vocab) { v.Model = "t5" }, `unsupported tokenizer model "t5"`},
		{"spm with merges", func(v *Vocab) { v.Model = ModelSPM; v.Scores = []float32{0, 0, 0} }, "belong to a byte-level BPE"},
	} {
		v := good
		c.edit(&v)
		_, err := New(v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %s", c.name, err, c.want)
		}
	}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	_, err := FromGGUF(vocabGGUF(t, good, func(b *gguf.Builder) { b.Set("tokenizer.ggml.pre", "deepseek-llm") }))
	if err == nil || !strings.Contains(err.Error(), `"deepseek-llm"`) {
		t.Errorf("GGUF with unknown pre: err = %v", err)
	}
}

// TestHFErrors: tokenizer.json files Shear cannot run give errors that
// name the problem.
func TestHFErrors(t *testing.T) {
	const base = `{"normalizer": %s, "pre_tokenizer": %s, "added_tokens": [], "model": %s}`
	const bl = `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`
	const model = `{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}`
	if _, err := ParseHF(fmt.Appendf(nil, base, "null", bl, model), nil, nil, 0); err != nil {
		t.Fatalf("minimal tokenizer.json: %v", err)
	}
	for _, c := range []struct {
		name, norm, pre, model, want string
	}{
		{"wordpiece", "null", bl, `{"type": "WordPiece", "vocab": {"a": 0}}`, `model type "WordPiece" is not supported`},
		{"normalizer", `{"type": "Lowercase"}`, bl, model, `normalizer "Lowercase" is not supported`},
		{"no merges", "null", bl, `{"type": "BPE", "vocab": {"a": 0}}`, "has no merges"},
		{"empty merges", "null", bl, `{"type": "BPE", "vocab": {"a": 0}, "merges": []}`, "has no merges"},
		{"byte fallback", "null", bl, `{"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": ["a a"]}`, "byte_fallback"},
		{"unknown split", "null", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}`, model, `pre-tokenizer [Split {"Regex":"\\s+"}, ByteLevel] is not one Shear knows`},
		{"prefix space", "null", `{"type": "ByteLevel", "add_prefix_space": true}`, model, "ByteLevel with add_prefix_space"},
		{"no pre", "null", "null", model, "has no pre_tokenizer"},
		{"bad merge", "null", bl, `{"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}`, `"b" is not a token`},
		{"negative id", "null", bl, `{"type": "BPE", "vocab": {"a": -1}, "merges": ["a a"]}`, "id -1 outside"},
		{"sparse ids", "null", bl, `{"type": "BPE", "vocab": {"a": 0, "aa": 16777215}, "merges": ["a a"]}`, "defines 2 tokens but ids up to 16777215"},
		{"shared id", "null", bl, `{"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": ["a a"]}`, "share id 0"},
	} {
		_, err := ParseHF(fmt.Appendf(nil, base, c.norm, c.pre, c.model), nil, nil, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %s", c.name, err, c.want)
		}
	}
	if _, err := ParseHF([]byte(`{"model": `), nil, nil, 0); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("truncated JSON: err = %v", err)
	}
	if _, err := FromHFDir(t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("empty directory: err = %v", err)
	}
}

func TestLoadVocab(t *testing.T) {
	// A small tokenizer.json directory, written by HFFiles.
	dir := t.TempDir()
	tj, tc, err := HFFiles(tinyBPE(t, "qwen2", "<s>").Vocab())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFTokenizerFile), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFTokenizerConfigFile), tc, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, model string }{
		{dir, ModelBPE},
		{filepath.Join(dir, HFTokenizerFile), ModelBPE},
		{sharedPath(t, "models/vocab-tests/ggml-vocab-gpt-2.gguf"), ModelBPE},
		{sharedPath(t, "models/ggml-vocab-llama-spm.gguf"), ModelSPM},
	} {
		v, err := LoadVocab(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		tok, err := New(v)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Model() != c.model {
			t.Errorf("%s: model %q, want %q", c.path, tok.Model(), c.model)
		}
	}
	for _, p := range []string{filepath.Join(dir, HFTokenizerConfigFile), filepath.Join(dir, "absent")} {
		if _, err := LoadVocab(p); err == nil || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: err = %v, want one naming the file", p, err)
		}
	}
}

// TestHFFilesRoundTrip: tokenizer.json and tokenizer_config.json written by
// HFFiles read back as the same vocabulary, for both shared tokenizer.json
// directories and llama.cpp's gpt-2 GGUF vocabulary, and under every
// pre-tokenizer.
func TestHFFilesRoundTrip(t *testing.T) {
	gpt2 := load(t, "models/vocab-tests/ggml-vocab-gpt-2.gguf").Vocab()
	gpt2.Scores = nil // tokenizer.json has none
	vocabs := map[string]Vocab{
		"llama3": load(t, "models/tokenizers/llama3").Vocab(),
		"qwen3":  load(t, "models/tokenizers/qwen3").Vocab(),
		"gpt-2":  gpt2,
	}
	for _, pre := range []string{"smollm"} { // llama-bpe and qwen2 are covered by llama3 and qwen3
		v := gpt2
		v.Pre = pre
		v.AddBOS = false
		vocabs["gpt-2 as "+pre] = v
	}
	// Both flags, and EOS only (a template that appends EOS).
	q := vocabs["qwen3"]
	q.AddEOS = true
	vocabs["qwen3 adding EOS"] = q
	l := vocabs["llama3"]
	l.AddEOS = true
	vocabs["llama3 adding BOS and EOS"] = l
	for name, v := range vocabs {
		tj, tc, err := HFFiles(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := ParseHF(tj, tc, nil, len(v.Tokens))
		if err != nil {
			t.Fatalf("%s: reading back: %v", name, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: vocabulary changed through tokenizer.json: pre %q→%q bos %d→%d eos %d→%d add_bos %v→%v tokens %d→%d equal %v types equal %v merges equal %v",
				name, v.Pre, got.Pre, v.BOS, got.BOS, v.EOS, got.EOS, v.AddBOS, got.AddBOS, len(v.Tokens), len(got.Tokens),
				reflect.DeepEqual(v.Tokens, got.Tokens), reflect.DeepEqual(v.Types, got.Types), reflect.DeepEqual(v.Merges, got.Merges))
		}
	}
	if _, _, err := HFFiles(Vocab{Tokens: []string{"a"}, Scores: []float32{0}, Types: []int32{1}}); err == nil || !strings.Contains(err.Error(), "SentencePiece") {
		t.Errorf("SentencePiece vocabulary: err = %v", err)
	}
}

// TestParseSpecialSPM: with ParseSpecial, SentencePiece also splits out
// control tokens, and the text after one gets the space prefix again
// (llama.cpp's is_prev_special); without it "<s>" is text.
func TestParseSpecialSPM(t *testing.T) {
	tok := load(t, "models/ggml-vocab-llama-spm.gguf")
	bos := tok.BOS()
	got := tok.EncodeWith("<s>Hello</s>", EncodeOptions{ParseSpecial: true})
	want := []int{1, 15043, 2} // llama-tokenize -p "<s>Hello</s>" --no-bos
	if !equalIDs(got, want) {
		t.Errorf("ParseSpecial: got %v, want %v", got, want)
	}
	if plain := tok.Encode("<s>Hello"); len(plain) < 3 || plain[0] == bos {
		t.Errorf("without ParseSpecial \"<s>\" must be text, got %v", plain)
	}
}
