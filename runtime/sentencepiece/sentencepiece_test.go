package sentencepiece

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

const (
	llamaModel = "../../../shared/models/llama2-tokenizer.model"
	llamaGGUF  = "../../../shared/models/ggml-vocab-llama-spm.gguf"
	stories    = "../../../shared/models/stories260K.gguf"
)

func ggufVocab(t *testing.T, path string) tokenizer.Vocab {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Vocab()
}

func sameVocab(t *testing.T, got, want tokenizer.Vocab) {
	t.Helper()
	if len(got.Tokens) != len(want.Tokens) {
		t.Fatalf("%d tokens, want %d", len(got.Tokens), len(want.Tokens))
	}
	for i := range want.Tokens {
		if got.Tokens[i] != want.Tokens[i] || math.Float32bits(got.Scores[i]) != math.Float32bits(want.Scores[i]) || got.Types[i] != want.Types[i] {
			t.Fatalf("token %d: got (%q, %v, %d), want (%q, %v, %d)", i,
				got.Tokens[i], got.Scores[i], got.Types[i], want.Tokens[i], want.Scores[i], want.Types[i])
		}
	}
	if got.BOS != want.BOS || got.EOS != want.EOS || got.UNK != want.UNK || got.AddSpacePrefix != want.AddSpacePrefix {
		t.Errorf("specials: got bos %d eos %d unk %d prefix %v, want %d %d %d %v",
			got.BOS, got.EOS, got.UNK, got.AddSpacePrefix, want.BOS, want.EOS, want.UNK, want.AddSpacePrefix)
	}
}

// TestLlamaVocab: LLaMA-2's tokenizer.model gives exactly the vocabulary of
// llama.cpp's GGUF conversion of it.
func TestLlamaVocab(t *testing.T) {
	m, err := Read(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trainer.ModelType != BPE || !m.Trainer.ByteFallback || m.Normalizer.Name != "identity" {
		t.Errorf("trainer/normalizer: %+v %+v", m.Trainer.ModelType, m.Normalizer.Name)
	}
	v, err := m.ToVocab()
	if err != nil {
		t.Fatal(err)
	}
	sameVocab(t, v, ggufVocab(t, llamaGGUF))
}

// TestRoundTrip: read → write reproduces LLaMA's file byte for byte (its
// fields are all explicit and in field order), and write → read gives the
// same model.
func TestRoundTrip(t *testing.T) {
	orig, err := os.ReadFile(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(orig)
	if err != nil {
		t.Fatal(err)
	}
	if enc := m.Encode(); !bytes.Equal(enc, orig) {
		t.Errorf("re-encoded model differs from the file (%d vs %d bytes)", len(enc), len(orig))
	}
	path := filepath.Join(t.TempDir(), "tokenizer.model")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	m2, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Error("model differs after write → read")
	}
}

// TestFromVocab: a GGUF vocabulary → tokenizer.model → vocabulary is the same.
func TestFromVocab(t *testing.T) {
	for _, path := range []string{stories, llamaGGUF} {
		want := ggufVocab(t, path)
		m, err := FromVocab(want)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(m.Encode())
		if err != nil {
			t.Fatal(err)
		}
		got, err := m2.ToVocab()
		if err != nil {
			t.Fatal(err)
		}
		sameVocab(t, got, want)
	}
	// Negative ids survive (10-byte varints).
	v := ggufVocab(t, stories)
	v.UNK = -1
	m, _ := FromVocab(v)
	m2, err := Parse(m.Encode())
	if err != nil || m2.Trainer.UnkID != -1 {
		t.Errorf("unk_id -1 read back as %d (%v)", m2.Trainer.UnkID, err)
	}
}

func TestMalformed(t *testing.T) {
	orig, err := os.ReadFile(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	piece := func(b ...byte) []byte { return append([]byte{0x0a, byte(len(b))}, b...) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"json", []byte(`{"model": {"type": "BPE"}}`), "groups"},
		{"truncated", orig[:len(orig)/2], "runs past the end"},
		{"truncated varint", []byte{0x0a, 0x80}, "truncated varint"},
		{"long varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "varint"},
		{"field zero", []byte{0x00, 0x01}, "invalid field number 0"},
		{"wire 7", []byte{0x0f}, "invalid wire type 7"},
		{"pieces as varint", []byte{0x08, 0x01}, "wire type 0"},
		{"score as varint", piece(0x10, 0x01), "score"},
		{"bad type", piece(0x18, 0x09), "type 9"},
		{"truncated fixed32", piece(0x15, 0x00, 0x00), "truncated 4-byte"},
		{"trainer varint", append(piece(0x0a, 0x01, 'a'), 0x10, 0x01), "trainer_spec"},
		{"bos as len", append(piece(0x0a, 0x01, 'a'), 0x12, 0x03, 0xca, 0x02, 0x00), "bos_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.b)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	// Cut exactly at a piece boundary (issue 17): every piece parses, but
	// the trainer_spec after them is missing.
	d := &decoder{b: orig, msg: "ModelProto"}
	for i := 0; i < 1000; i++ {
		if _, err := d.next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Parse(orig[:d.off]); err == nil || !strings.Contains(err.Error(), "without a trainer_spec") {
		t.Errorf("cut after 1000 pieces: %v", err)
	}
	// Every truncation of a real file fails cleanly or parses.
	for n := 0; n < 4000; n += 7 {
		Parse(orig[:n])
	}
}

func TestToVocabErrors(t *testing.T) {
	m := &Model{Pieces: []Piece{{Piece: "a", Type: Normal}, {Piece: "a", Type: Normal}}, Trainer: TrainerSpec{UnkID: 0}}
	if _, err := m.ToVocab(); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate pieces: %v", err)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	m, err := FromVocab(ggufVocab(t, stories))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Write(filepath.Join(dir, "no", "tokenizer.model")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if e, _ := os.ReadDir(dir); len(e) != 0 {
		t.Errorf("left %d entries", len(e))
	}
}

func FuzzParse(f *testing.F) {
	m := &Model{Pieces: []Piece{{"<unk>", 0, Unknown}, {"a", -1, Normal}}}
	f.Add(m.Encode())
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		m2, err := Parse(m.Encode())
		if err != nil {
			t.Fatalf("re-encoded model does not parse: %v", err)
		}
		if !slices.Equal(m.Pieces, m2.Pieces) && !hasNaN(m.Pieces) {
			t.Fatal("pieces differ after re-encoding")
		}
		m.ToVocab()
	})
}

func hasNaN(ps []Piece) bool {
	for _, p := range ps {
		if p.Score != p.Score {
			return true
		}
	}
	return false
}
