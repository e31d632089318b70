package testshared

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// The tools run on one thread: the comparisons are of values, and a shared
// machine runs two threads of llama.cpp slower than one.

// LlamaGreedy runs llama.cpp's llama-cli (the binary at cli) on the model
// at path: n tokens decoded greedily from BOS alone, EOS ignored. It
// returns the text, trimmed.
func LlamaGreedy(t testing.TB, cli, path string, n int) string {
	t.Helper()
	b, err := exec.Command(cli, "-m", path, "-p", "", "-n", fmt.Sprint(n), "--temp", "0", "-no-cnv",
		"-t", "1", "-c", "256", "--no-warmup", "-s", "1", "--ignore-eos", "--no-display-prompt").Output()
	if err != nil {
		t.Fatalf("llama-cli: %v", err)
	}
	return string(bytes.TrimSpace(b))
}

// LlamaPerplexity runs llama.cpp's llama-perplexity (the binary at tool)
// on the model at path over text in chunks of ctx tokens and returns its
// final estimate.
func LlamaPerplexity(t testing.TB, tool, path string, text []byte, ctx int) float64 {
	t.Helper()
	txt := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(txt, text, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(tool, "-m", path, "-f", txt, "-c", fmt.Sprint(ctx), "-b", fmt.Sprint(ctx), "-t", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("llama-perplexity: %v\n%s", err, b)
	}
	m := regexp.MustCompile(`Final estimate: PPL = ([0-9.]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no final estimate in llama-perplexity's output:\n%s", b)
	}
	ppl, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return ppl
}
