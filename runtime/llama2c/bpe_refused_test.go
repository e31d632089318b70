package llama2c

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/tokenizer"
)

// A byte-level BPE vocabulary cannot become a tokenizer.bin, and nothing is
// written.
func TestWriteTokenizerRefusesBPE(t *testing.T) {
	v := tokenizer.Vocab{Model: tokenizer.ModelBPE, Pre: "gpt-2", Tokens: []string{"a", "b", "ab"}, Types: []int32{1, 1, 1}, Merges: []string{"a b"}, BOS: -1, EOS: -1, UNK: -1}
	path := filepath.Join(t.TempDir(), "tokenizer.bin")
	if err := WriteTokenizer(path, v); err == nil || !strings.Contains(err.Error(), "byte-level BPE") {
		t.Errorf("err = %v, want a refusal naming byte-level BPE", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was written")
	}
}
