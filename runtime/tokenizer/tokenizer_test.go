package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/shear-ai/shear/runtime/gguf"
)

// sharedPath finds rel under the "shared" directory that is a sibling of
// the repository root, walking up from the test's working directory.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			t.Skipf("../shared/%s not found above %s: test data is absent", rel, dir)
		}
	}
}

func readShared(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(sharedPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	loadMu    sync.Mutex
	loadCache = map[string]*Tokenizer{}
)

// load builds the tokenizer of a shared GGUF file or tokenizer.json
// directory once per test binary.
func load(t testing.TB, rel string) *Tokenizer {
	t.Helper()
	path := sharedPath(t, rel)
	loadMu.Lock()
	defer loadMu.Unlock()
	if tok, ok := loadCache[path]; ok {
		return tok
	}
	v, err := LoadVocab(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(v)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	loadCache[path] = tok
	return tok
}

// vocabTests reads llama.cpp's test-tokenizer-0 vectors: the .inp file holds
// the strings separated by "\n__ggml_vocab_test__\n" (so the newline before
// a separator line is not part of the string), the .out file one line of
// space-separated ids per string (whitespace-trimmed; empty = no tokens).
func vocabTests(t *testing.T, inp, out []byte) (texts []string, want [][]int) {
	const sep = "\n__ggml_vocab_test__\n"
	raw := string(inp)
	for pos := 0; pos < len(raw); {
		next := strings.Index(raw[pos:], sep)
		if next < 0 {
			texts = append(texts, raw[pos:])
			break
		}
		texts = append(texts, raw[pos:pos+next])
		pos += next + len(sep)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // getline does not yield the empty tail
	}
	for _, line := range lines {
		var ids []int
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("bad id %q in .out", f)
			}
			ids = append(ids, id)
		}
		want = append(want, ids)
	}
	if len(texts) != len(want) {
		t.Fatalf(".inp has %d tests, .out has %d", len(texts), len(want))
	}
	return texts, want
}

// roundTrips reports whether Decode(Encode(s)) == s is expected: s is valid
// UTF-8, has no literal U+2581 (which decodes to a space) and no text of a
// user-defined token (after which Encode adds a space prefix again), and
// Encode produced no control, unknown, unused or undefined token (which
// decode to nothing). The vocabulary must have the token "▁" if s has
// spaces or a prefix is added; otherwise an escaped space may fall back to
// the bytes of U+2581.
func roundTrips(tok *Tokenizer, s string, ids []int) bool {
	if !utf8.ValidString(s) || strings.Contains(s, spaceEscape) {
		return false
	}
	if _, ok := tok.ids[spaceEscape]; !ok && (tok.v.AddSpacePrefix || strings.Contains(s, " ")) {
		return false
	}
	for _, u := range tok.user {
		if strings.Contains(s, u.text) {
			return false
		}
	}
	for _, id := range ids {
		switch tok.v.Types[id] {
		case TypeControl, TypeUnknown, TypeUnused, TypeUndefined:
			return false
		}
	}
	return true
}

func TestLlamaSPMVectors(t *testing.T) {
	tok := load(t, "models/ggml-vocab-llama-spm.gguf")
	texts, want := vocabTests(t,
		readShared(t, "models/ggml-vocab-llama-spm.gguf.inp"),
		readShared(t, "models/ggml-vocab-llama-spm.gguf.out"))
	roundTripped := 0
	for i, s := range texts {
		got := tok.Encode(s)
		if !equalIDs(got, want[i]) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, s, got, want[i])
			continue
		}
		if !roundTrips(tok, s, got) {
			t.Logf("case %d %q: no round trip expected", i, s)
			continue
		}
		if d := tok.Decode(got); d != s {
			t.Errorf("case %d: Decode(Encode(%q)) = %q", i, s, d)
		}
		roundTripped++
	}
	t.Logf("%d cases, %d round-tripped", len(texts), roundTripped)
	if roundTripped != len(texts) {
		t.Errorf("only %d of %d cases round-trip", roundTripped, len(texts))
	}
}

func equalIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLlamaSPMBasics(t *testing.T) {
	tok := load(t, "models/ggml-vocab-llama-spm.gguf")
	if tok.Size() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Fatalf("size %d bos %d eos %d", tok.Size(), tok.BOS(), tok.EOS())
	}
	if !tok.HasByteTokens() {
		t.Error("HasByteTokens = false")
	}
	v := tok.Vocab()
	if !v.AddSpacePrefix || !v.AddBOS || v.UNK != 0 {
		t.Errorf("vocab flags %+v", Vocab{BOS: v.BOS, EOS: v.EOS, UNK: v.UNK, AddSpacePrefix: v.AddSpacePrefix, AddBOS: v.AddBOS})
	}
	// Vocab returns a copy.
	v.Tokens[15043] = "x"
	if tok.Vocab().Tokens[15043] != "▁Hello" {
		t.Error("Vocab() shares its slices")
	}
	// Control strings are plain text (parse_special=false).
	if got := tok.Encode("<s>"); len(got) == 1 && got[0] == tok.BOS() {
		t.Errorf("Encode(\"<s>\") parsed the control token: %v", got)
	}
	for _, c := range []struct {
		id   int
		want string
	}{{1, ""}, {2, ""}, {0, ""}, {15043, " Hello"}, {13, "\n"}, {243, "\xf0"}, {-1, ""}, {32000, ""}} {
		if got := tok.Piece(c.id); got != c.want {
			t.Errorf("Piece(%d) = %q, want %q", c.id, got, c.want)
		}
	}
	if got := tok.DecodePiece(15043, true); got != "Hello" {
		t.Errorf("DecodePiece(first) = %q", got)
	}
	ids := tok.Encode("Hello world")
	if got := tok.Decode(append([]int{tok.BOS()}, ids...)); got != "Hello world" {
		t.Errorf("Decode with BOS = %q", got)
	}
	if got := tok.Decode(append(ids, tok.EOS())); got != "Hello world" {
		t.Errorf("Decode with EOS = %q", got)
	}
	// A streamed decode equals Decode.
	var b strings.Builder
	for i, id := range ids {
		b.WriteString(tok.DecodePiece(id, i == 0))
	}
	if b.String() != "Hello world" {
		t.Errorf("streamed %q", b.String())
	}
}

func TestStoriesCount(t *testing.T) {
	tok := load(t, "models/stories260K.gguf")
	if tok.Size() != 512 {
		t.Fatalf("stories260K vocab size %d", tok.Size())
	}
	text := readShared(t, "data/tinystories-dev.txt")
	ids := tok.Encode(string(text))
	const want = 305842 // llama.cpp (docs/EVALUATION.md)
	if len(ids) != want {
		t.Errorf("tinystories-dev.txt: %d tokens, llama.cpp gives %d", len(ids), want)
	}
	for _, id := range ids {
		if id < 0 || id >= tok.Size() {
			t.Fatalf("id %d out of range", id)
		}
	}
	if d := tok.Decode(ids); d != string(text) {
		t.Errorf("Decode(Encode(file)) differs from the file (len %d vs %d)", len(d), len(text))
	}
	// The greedy reference starts "Once upon a time, there was a little girl named Lily."
	s := "Once upon a time, there was a little girl named Lily."
	if d := tok.Decode(tok.Encode(s)); d != s {
		t.Errorf("round trip %q", d)
	}
}

func TestLlama2TinyRandomLoads(t *testing.T) {
	tok := load(t, "models/llama-2-tiny-random.gguf")
	if tok.Size() != 32000 {
		t.Errorf("vocab size %d, want 32000", tok.Size())
	}
	ref := load(t, "models/ggml-vocab-llama-spm.gguf")
	s := "Hello, world! 🦙\n\tx"
	if got, want := tok.Encode(s), ref.Encode(s); !equalIDs(got, want) {
		t.Errorf("Encode differs from the llama-spm vocab: %v vs %v", got, want)
	}
}

// tinyVocab is a hand-made vocabulary: <unk> <s> </s>, 256 byte tokens,
// then pieces with scores.
func tinyVocab(pieces map[string]float32) Vocab {
	v := Vocab{BOS: 1, EOS: 2, UNK: 0, AddSpacePrefix: true, AddBOS: true}
	add := func(s string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	for b := range 256 {
		add(byteTokenText(byte(b)), 0, TypeByte)
	}
	// Deterministic order.
	keys := make([]string, 0, len(pieces))
	for k := range pieces {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		add(k, pieces[k], TypeNormal)
	}
	return v
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestMergeOrder(t *testing.T) {
	// "abc": ab (-1) beats bc (-2), then abc needs the pair (ab, c).
	v := tinyVocab(map[string]float32{"▁": -10, "a": -5, "b": -5, "c": -5, "ab": -1, "bc": -2, "abc": -3, "▁abc": -20})
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int { return int(tok.ids[s]) }
	if got, want := tok.Encode("abc"), []int{id("▁abc")}; !equalIDs(got, want) {
		t.Errorf("abc: %v, want %v", got, want)
	}
	// Ties go to the leftmost pair: "aaa" with only "aa" → [aa, a].
	v = tinyVocab(map[string]float32{"▁": -9, "a": -5, "aa": -1})
	v.AddSpacePrefix = false
	tok, _ = New(v)
	if got, want := tok.Encode("aaa"), []int{id2(tok, "aa"), id2(tok, "a")}; !equalIDs(got, want) {
		t.Errorf("aaa: %v, want %v", got, want)
	}
	// Unknown characters fall back to bytes; without the prefix no ▁.
	if got, want := tok.Encode("é"), []int{3 + 0xC3, 3 + 0xA9}; !equalIDs(got, want) {
		t.Errorf("é: %v, want %v", got, want)
	}
	if got := tok.Decode(tok.Encode("aé a")); got != "aé a" {
		t.Errorf("round trip without prefix: %q", got)
	}
}

func id2(tok *Tokenizer, s string) int { return int(tok.ids[s]) }

func TestUserDefinedTokens(t *testing.T) {
	v := tinyVocab(map[string]float32{"▁": -10, "a": -5, "▁a": -1})
	v.Tokens = append(v.Tokens, "<tool>")
	v.Scores = append(v.Scores, 0)
	v.Types = append(v.Types, TypeUserDefined)
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	ud := tok.Size() - 1
	// llama.cpp: user-defined tokens are split out even without
	// parse_special, and the text after them gets the space prefix again.
	want := []int{id2(tok, "▁a"), ud, id2(tok, "▁a")}
	if got := tok.Encode("a<tool>a"); !equalIDs(got, want) {
		t.Errorf("a<tool>a: %v, want %v", got, want)
	}
	if got := tok.Encode("<tool>"); !equalIDs(got, []int{ud}) {
		t.Errorf("<tool>: %v", got)
	}
	if got := tok.Decode(want); got != "a<tool> a" {
		t.Errorf("Decode = %q", got)
	}
	// An empty user-defined token is matched as "[EMPTY_<id>]", as in
	// llama.cpp, and does not hang the partition.
	v.Tokens[len(v.Tokens)-1] = ""
	tok, err = New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a[EMPTY_" + strconv.Itoa(ud) + "]"); len(got) != 2 || got[1] != ud {
		t.Errorf("empty user-defined token: %v", got)
	}
}

func TestUnkFallback(t *testing.T) {
	v := Vocab{
		Tokens: []string{"<unk>", "<s>", "</s>", "▁", "a", "▁a"},
		Scores: []float32{0, 0, 0, -3, -2, -1},
		Types:  []int32{TypeUnknown, TypeControl, TypeControl, TypeNormal, TypeNormal, TypeNormal},
		BOS:    1, EOS: 2, UNK: 0, AddSpacePrefix: true, AddBOS: true,
	}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if tok.HasByteTokens() {
		t.Error("HasByteTokens = true")
	}
	if got, want := tok.Encode("aé"), []int{5, 0, 0}; !equalIDs(got, want) {
		t.Errorf("aé: %v, want %v (one UNK per byte)", got, want)
	}
	v.UNK = -1
	if _, err := New(v); err == nil || !strings.Contains(err.Error(), "UNK") {
		t.Errorf("no byte tokens and no UNK: err = %v", err)
	}
}

func TestBadVocab(t *testing.T) {
	good := func() Vocab { return tinyVocab(map[string]float32{"a": -1}) }
	cases := []struct {
		name   string
		modify func(*Vocab)
		want   string
	}{
		{"empty", func(v *Vocab) { *v = Vocab{BOS: -1, EOS: -1, UNK: -1} }, "empty vocabulary"},
		{"scores", func(v *Vocab) { v.Scores = v.Scores[:3] }, "3 scores"},
		{"types", func(v *Vocab) { v.Types = v.Types[1:] }, "token types"},
		{"bos range", func(v *Vocab) { v.BOS = len(v.Tokens) }, "BOS id 260 out of range"},
		{"eos negative", func(v *Vocab) { v.EOS = -2 }, "EOS id -2 out of range"},
		{"unk range", func(v *Vocab) { v.UNK = 1000 }, "UNK id 1000"},
		{"add bos without bos", func(v *Vocab) { v.BOS = -1 }, "add_bos_token"},
		{"add eos without eos", func(v *Vocab) { v.EOS, v.AddEOS = -1, true }, "add_eos_token"},
		{"type", func(v *Vocab) { v.Types[5] = 9 }, "unknown type 9"},
		{"duplicate", func(v *Vocab) { v.Tokens[4] = v.Tokens[3] }, "duplicate token \"<0x00>\""},
		{"byte text", func(v *Vocab) { v.Types[len(v.Tokens)-1] = TypeByte }, "not of the form <0xNN>"},
	}
	for _, c := range cases {
		v := good()
		c.modify(&v)
		_, err := New(v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := New(good()); err != nil {
		t.Errorf("good vocab: %v", err)
	}
}

// ggufWith builds an in-memory GGUF from the tokenizer keys of v plus extra.
func ggufWith(t *testing.T, v Vocab, set func(b *gguf.Builder)) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	b.Set("tokenizer.ggml.model", "llama")
	b.Set("tokenizer.ggml.tokens", v.Tokens)
	b.Set("tokenizer.ggml.scores", v.Scores)
	b.Set("tokenizer.ggml.token_type", v.Types)
	if set != nil {
		set(b)
	}
	return parseBuilder(t, b)
}

// parseBuilder writes b and parses the bytes back.
func parseBuilder(t *testing.T, b *gguf.Builder) *gguf.File {
	t.Helper()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUFErrors(t *testing.T) {
	v := tinyVocab(map[string]float32{"a": -1})
	tok, err := FromGGUF(ggufWith(t, v, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Vocab(); got.BOS != 1 || got.EOS != 2 || got.UNK != 0 || !got.AddBOS || !got.AddSpacePrefix {
		t.Errorf("defaults: bos %d eos %d unk %d addbos %v prefix %v", got.BOS, got.EOS, got.UNK, got.AddBOS, got.AddSpacePrefix)
	}
	tok, err = FromGGUF(ggufWith(t, v, func(b *gguf.Builder) {
		b.Set("tokenizer.ggml.add_space_prefix", false)
		b.Set("tokenizer.ggml.add_bos_token", false)
		b.Set("tokenizer.ggml.bos_token_id", uint32(2))
		b.Set("tokenizer.ggml.eos_token_id", uint32(1))
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Vocab(); got.BOS != 2 || got.EOS != 1 || got.AddBOS || got.AddSpacePrefix {
		t.Errorf("keys not read: %+v", Vocab{BOS: got.BOS, EOS: got.EOS, AddBOS: got.AddBOS, AddSpacePrefix: got.AddSpacePrefix})
	}

	cases := []struct {
		name string
		set  func(b *gguf.Builder)
		want string
	}{
		{"model", func(b *gguf.Builder) { b.Set("tokenizer.ggml.model", "t5") }, `tokenizer.ggml.model is "t5"`},
		{"gpt2 without merges", func(b *gguf.Builder) { b.Set("tokenizer.ggml.model", "gpt2") }, "tokenizer.ggml.merges is missing"},
		{"no model", func(b *gguf.Builder) { b.Delete("tokenizer.ggml.model") }, "tokenizer.ggml.model is missing"},
		{"no tokens", func(b *gguf.Builder) { b.Delete("tokenizer.ggml.tokens") }, "tokenizer.ggml.tokens is missing"},
		{"no scores", func(b *gguf.Builder) { b.Delete("tokenizer.ggml.scores") }, "tokenizer.ggml.scores is missing"},
		{"no types", func(b *gguf.Builder) { b.Delete("tokenizer.ggml.token_type") }, "tokenizer.ggml.token_type is missing"},
		{"short scores", func(b *gguf.Builder) { b.Set("tokenizer.ggml.scores", v.Scores[:10]) }, "tokenizer.ggml.scores has 10"},
		{"short types", func(b *gguf.Builder) { b.Set("tokenizer.ggml.token_type", v.Types[:7]) }, "tokenizer.ggml.token_type has 7"},
		{"scores type", func(b *gguf.Builder) { b.Set("tokenizer.ggml.scores", v.Tokens) }, "array of string"},
		{"bos range", func(b *gguf.Builder) { b.Set("tokenizer.ggml.bos_token_id", uint32(5000)) }, "bos_token_id = 5000 is out of range"},
		{"bool type", func(b *gguf.Builder) { b.Set("tokenizer.ggml.add_bos_token", "yes") }, "add_bos_token is a string"},
	}
	for _, c := range cases {
		_, err := FromGGUF(ggufWith(t, v, c.set))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %s", c.name, err, c.want)
		}
	}
}

func TestEncodeEdgeCases(t *testing.T) {
	tok := load(t, "models/ggml-vocab-llama-spm.gguf")
	if got := tok.Encode(""); len(got) != 0 {
		t.Errorf("Encode(\"\") = %v", got)
	}
	// Invalid UTF-8 and a truncated multi-byte tail still encode, as bytes.
	for _, s := range []string{"\xff", "a\xe4\xbd", "\xc3 x", "\x00"} {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.Size() {
				t.Fatalf("%q: id %d", s, id)
			}
		}
		if len(ids) == 0 {
			t.Errorf("%q: no tokens", s)
		}
	}
	// Many lines in one call: newlines are <0x0A> and lines do not get
	// their own space prefix.
	if got, want := tok.Encode("a\nb"), []int{263, 13, 29890}; !equalIDs(got, want) {
		t.Errorf("a\\nb: %v, want %v", got, want)
	}
}

func BenchmarkEncodeTinyStories(b *testing.B) {
	tok := load(b, "models/stories260K.gguf")
	text := string(readShared(b, "data/tinystories-dev.txt"))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text)
	}
}

func BenchmarkEncodeLlamaTinyStories(b *testing.B) {
	tok := load(b, "models/ggml-vocab-llama-spm.gguf")
	text := string(readShared(b, "data/tinystories-dev.txt"))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text)
	}
}

// TestMatchesReference compares Encode with naiveEncode on real text, the
// test vectors and random concatenations of vocabulary pieces.
func TestMatchesReference(t *testing.T) {
	story := string(readShared(t, "data/tinystories-dev.txt"))[:2000]
	inp := string(readShared(t, "models/ggml-vocab-llama-spm.gguf.inp"))
	for _, rel := range []string{"models/ggml-vocab-llama-spm.gguf", "models/stories260K.gguf"} {
		tok := load(t, rel)
		texts := append([]string{story}, strings.Split(inp, "\n__ggml_vocab_test__\n")...)
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200 {
			var b strings.Builder
			for range 1 + rng.IntN(20) {
				piece := tok.v.Tokens[rng.IntN(tok.Size())]
				if rng.IntN(4) == 0 {
					piece = strings.ReplaceAll(piece, spaceEscape, " ")
				}
				b.WriteString(piece)
			}
			texts = append(texts, b.String())
		}
		for _, s := range texts {
			if got, want := tok.Encode(s), naiveEncode(tok, s); !equalIDs(got, want) {
				t.Errorf("%s: Encode(%.40q…) differs from the reference:\n got %v\nwant %v", rel, s, got, want)
			}
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := load(t, "models/stories260K.gguf")
	text := string(readShared(t, "data/tinystories-dev.txt"))[:20000]
	want := tok.Encode(text)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got := tok.Encode(text); !equalIDs(got, want) {
				t.Error("concurrent Encode differs")
			}
		})
	}
	wg.Wait()
}
