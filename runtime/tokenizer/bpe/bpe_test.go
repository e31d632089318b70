package bpe

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// corpus is Austen when the shared data is present, else a generated text.
func corpus(t *testing.T) (trainText, heldOut string) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "data", "public-domain", "persuasion.txt"))
	if err != nil {
		var sb strings.Builder
		words := strings.Fields("the of and to a in was her it that she not be as had his with he for you I but at all very")
		for i := range 40000 {
			sb.WriteString(words[(i*7+i/3)%len(words)])
			if i%13 == 12 {
				sb.WriteString(".\n")
			} else {
				sb.WriteByte(' ')
			}
		}
		b = []byte(sb.String())
	}
	s := string(b)
	cut := len(s) * 9 / 10
	cut += strings.IndexByte(s[cut:], '\n') + 1
	return s[:cut], s[cut:]
}

func train(t *testing.T, texts []string, n int) (*Result, *tokenizer.Tokenizer) {
	t.Helper()
	res, err := Train(texts, Options{VocabSize: n})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(res.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	return res, tok
}

func TestRoundTripAndCompression(t *testing.T) {
	tr, held := corpus(t)
	res, tok := train(t, []string{tr}, 1024)
	if got := len(res.Vocab.Tokens); got != 1024 {
		t.Errorf("vocabulary has %d tokens, want 1024", got)
	}
	if res.Merges == 0 || res.Chars == 0 {
		t.Fatalf("no characters (%d) or merges (%d)", res.Chars, res.Merges)
	}
	for _, s := range []string{held, "Hello, world!", "  two  spaces\n\nand newlines\t", "unicode: café — ☃ 日本", "\x00\x7f control"} {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Errorf("round trip of %.40q gave %.40q", s, got)
		}
	}
	if n, b := len(tok.Encode(tr)), len(tr); n >= b/2 {
		t.Errorf("training text: %d tokens for %d bytes, want fewer than %d", n, b, b/2)
	} else {
		t.Logf("training text: %d tokens for %d bytes (%.2f bytes/token)", n, b, float64(b)/float64(n))
	}
}

// TestMergeOrder checks that the encoder replays BPE on single words: a
// word seen in training encodes to the symbols the training merges left.
func TestMergeOrder(t *testing.T) {
	texts := []string{strings.Repeat("low lower lowest newer newest wider ", 50)}
	res, tok := train(t, texts, 259+30)
	v := res.Vocab
	// Merged pieces score −rank, in vocabulary order.
	first := 259 + res.Chars
	for i := first; i < len(v.Tokens); i++ {
		if v.Scores[i] != -float32(i-first) {
			t.Fatalf("piece %d %q scores %v, want %v", i, v.Tokens[i], v.Scores[i], -float32(i-first))
		}
	}
	for _, w := range []string{"low", "lowest", "newer", "wider"} {
		ids := tok.Encode(w)
		if len(ids) != 1 {
			t.Errorf("%q encodes to %d tokens %v, want the single piece ▁%s", w, len(ids), ids, w)
		}
	}
}

func TestDeterministic(t *testing.T) {
	tr, _ := corpus(t)
	a, _ := train(t, []string{tr[:200000]}, 600)
	b, _ := train(t, []string{tr[:200000]}, 600)
	if !reflect.DeepEqual(a.Vocab, b.Vocab) {
		t.Fatal("two runs on the same text differ")
	}
	var x, y bytes.Buffer
	if _, err := GGUF(a.Vocab).WriteTo(&x); err != nil {
		t.Fatal(err)
	}
	GGUF(b.Vocab).WriteTo(&y)
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Fatal("the GGUF bytes differ between runs")
	}
}

func TestGGUFLoads(t *testing.T) {
	res, tok := train(t, []string{"the cat sat on the mat. the cat ate the rat."}, 300)
	path := filepath.Join(t.TempDir(), "v.gguf")
	if err := GGUF(res.Vocab).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Vocab(), tok.Vocab()) {
		t.Fatal("the vocabulary read back differs")
	}
	if got.BOS() != 1 || got.EOS() != 2 || !got.HasByteTokens() {
		t.Errorf("BOS %d EOS %d byte tokens %v", got.BOS(), got.EOS(), got.HasByteTokens())
	}
	for i := 3; i < 259; i++ {
		if res.Vocab.Types[i] != tokenizer.TypeByte {
			t.Fatalf("token %d %q has type %d, want byte", i, res.Vocab.Tokens[i], res.Vocab.Types[i])
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		texts []string
		opt   Options
		want  string
	}{
		{[]string{"abc"}, Options{VocabSize: 100}, "too small"},
		{[]string{"abcdefghijklmnop"}, Options{VocabSize: 262}, "characters"},
		{[]string{""}, Options{VocabSize: 1000}, "empty"},
		{[]string{"abc"}, Options{VocabSize: 1000, CharacterCoverage: 2}, "coverage"},
		{[]string{"abc"}, Options{VocabSize: 1000, MaxPieceChars: 1}, "length"},
	} {
		_, err := Train(c.texts, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Train(%q, %+v) = %v, want an error with %q", c.texts, c.opt, err, c.want)
		}
	}
}
