package train

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// FuzzLoadInstructions: any JSONL file either is refused with an error or
// gives examples that fit the context, use only vocabulary ids, and score
// at least one token each.
func FuzzLoadInstructions(f *testing.F) {
	f.Add([]byte(`{"instruction":"ab","input":"","output":"cd"}`+"\n"+`{"instruction":"a","input":"b","output":"e"}`), uint8(16))
	f.Add([]byte("\n\n{\"instruction\":\"x\",\"output\":\"y\"}\n"), uint8(3))
	tok, err := tokenizer.New(tinymodel.Vocab())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, ctx uint8) {
		path := filepath.Join(t.TempDir(), "data.jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		T := 1 + int(ctx%32)
		ex, err := LoadInstructions(tok, path, T)
		if err != nil {
			return
		}
		for i, e := range ex {
			if len(e.Tokens) != len(e.Targets) || len(e.Tokens) > T || len(e.Tokens) == 0 {
				t.Fatalf("example %d: %d tokens, %d targets, ctx %d", i, len(e.Tokens), len(e.Targets), T)
			}
			scored := 0
			for j := range e.Tokens {
				if e.Tokens[j] < 0 || e.Tokens[j] >= tok.Size() || e.Targets[j] < -1 || e.Targets[j] >= tok.Size() {
					t.Fatalf("example %d: token %d / target %d outside the vocabulary", i, e.Tokens[j], e.Targets[j])
				}
				if e.Targets[j] >= 0 {
					scored++
				}
			}
			if scored == 0 {
				t.Fatalf("example %d scores no token", i)
			}
		}
	})
}
