package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

func TestTokenizerTrain(t *testing.T) {
	dir := t.TempDir()
	b, err := assets.DefaultData().(interface{ ReadFile(string) ([]byte, error) }).ReadFile("northangerabbey.txt")
	if err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, b[:200000], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vocab.gguf")
	res := mustRun(t, "tokenizer", "train", "--vocab", "600", "-f", text, "-o", out)
	if res["vocab"].(float64) != 600 || res["merges"].(float64) <= 0 {
		t.Errorf("result %v", res)
	}
	if bpt := res["bytes_per_token"].(float64); bpt < 2 {
		t.Errorf("%.2f bytes per token, want ≥ 2", bpt)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if s := "Catherine's \"dear\" friend—Isabella!"; tok.Decode(tok.Encode(s)) != s {
		t.Errorf("round trip of %q gave %q", s, tok.Decode(tok.Encode(s)))
	}
	// The vocabulary seeds a model.
	mustRun(t, "init", "--dim", "32", "--hidden", "64", "--layers", "1", "--heads", "4", "--kv-heads", "2",
		"--vocab-from", out, "-o", filepath.Join(dir, "m.gguf"))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", text, "-o", out + "2"}, "--vocab"},
		{[]string{"--vocab", "600", "-o", out + "2"}, "-f"},
		{[]string{"--vocab", "600", "-f", text}, "-o"},
		{[]string{"--vocab", "100", "-f", text, "-o", out + "2"}, "too small"},
		{[]string{"--vocab", "600", "-f", filepath.Join(dir, "missing.txt"), "-o", out + "2"}, "missing.txt"},
		{[]string{"--vocab", "600", "-f", text, "-o", text}, "overwrite"},
		{[]string{"--vocab", "600", "-f", text, "-o", out + "2", "--coverage", "0"}, "coverage"},
	} {
		_, err := runCLI(t, append([]string{"tokenizer", "train"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tokenizer train %v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// TestDefaultModel runs commands without -m: they use the embedded model.
func TestDefaultModel(t *testing.T) {
	res := mustRun(t, "generate", "-p", "It was", "-n", "8", "--seed", "1")
	if res["text"] == "" {
		t.Errorf("no text: %v", res)
	}
	res = mustRun(t, "info")
	if res == nil {
		t.Fatal("info printed nothing")
	}
}
