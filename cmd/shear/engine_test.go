package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestEngineFlag runs generate, ppl and prune on the wasm engines: the
// same tokens, perplexity and pruned file as native.
func TestEngineFlag(t *testing.T) {
	needShared(t)
	// Compiled modules are cached under the user cache directory.
	t.Setenv("XDG_CACHE_HOME", filepath.Join(os.TempDir(), "shear-wazero-cache"))
	dir := t.TempDir()
	data := filepath.Join(dir, "train.txt")
	raw, _ := os.ReadFile(tinyText)
	os.WriteFile(data, raw[:20000], 0o644)
	want := fmt.Sprint(mustRun(t, "generate", "-m", storiesGGUF, "-n", "24", "--temp", "0")["tokens"])
	wantPPL := mustRun(t, "ppl", "-m", storiesGGUF, "-f", data, "--chunks", "2")
	for _, engine := range []string{"wasm", "wasm-pure"} {
		if got := fmt.Sprint(mustRun(t, "generate", "-m", storiesGGUF, "-n", "24", "--temp", "0", "--engine", engine)["tokens"]); got != want {
			t.Errorf("--engine %s: tokens %s, native %s", engine, got, want)
		}
	}
	if got := mustRun(t, "ppl", "-m", storiesGGUF, "-f", data, "--chunks", "2", "--engine", "wasm"); got["ppl"] != wantPPL["ppl"] {
		t.Errorf("--engine wasm: ppl %v, native %v", got["ppl"], wantPPL["ppl"])
	}
	for _, engine := range []string{"native", "wasm"} {
		mustRun(t, "prune", "-m", storiesGGUF, "-o", filepath.Join(dir, engine+".gguf"), "--method", "magnitude", "--target", "0.2", "--data", data, "--engine", engine)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "native.gguf"))
	b, _ := os.ReadFile(filepath.Join(dir, "wasm.gguf"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("prune --engine wasm wrote %d bytes differing from native's %d", len(b), len(a))
	}
	if _, err := runCLI(t, "generate", "-m", storiesGGUF, "--engine", "wasm-fast"); err == nil {
		t.Error("--engine wasm-fast was accepted")
	}
}
