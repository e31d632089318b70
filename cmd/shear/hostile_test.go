package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputThroughSymlinkRefused: every command that writes a model
// refuses an output that is its input reached through a symbolic link
// (issue 17 item 1: prune and merge used to replace the input), and the
// input keeps its bytes.
func TestOutputThroughSymlinkRefused(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.gguf")
	want, err := os.ReadFile(storiesGGUF)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orig, want, 0o644); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(dir, "alias.gguf")
	if err := os.Symlink(orig, alias); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	adapter := filepath.Join(dir, "adapter")
	os.Mkdir(adapter, 0o755)
	// finetune writes OUTDIR/model.gguf: here a link to the input.
	ftDir := filepath.Join(dir, "ft")
	os.Mkdir(ftDir, 0o755)
	os.Symlink(orig, filepath.Join(ftDir, "model.gguf"))
	for _, args := range [][]string{
		{"prune", "-m", alias, "--method", "magnitude", "--target", "0.2", "--data", tinyText, "-o", orig, "--recover-steps", "0"},
		{"merge", "-m", alias, "--adapter", adapter, "-o", orig},
		{"compress", "-m", alias, "--remove", "1", "-o", orig},
		{"recover", "-m", alias, "--dense", storiesGGUF, "--data", tinyText, "-o", orig},
		{"recover", "-m", storiesGGUF, "--dense", alias, "--data", tinyText, "-o", orig},
		{"lorashear", "-m", alias, "--data", tinyText, "-o", orig},
		{"quantize", "-m", alias, "--type", "q8_0", "-o", orig},
		{"convert", "-m", alias, "-o", orig},
		{"finetune", "-m", orig, "--data", tinyText, "-o", ftDir},
		{"graph", "-m", alias, "-o", orig}, // wrote the graph over the model
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("shear %s: error %v, want a refusal to overwrite the input", strings.Join(args, " "), err)
		}
		if got, err := os.ReadFile(orig); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("shear %s changed the input (%v)", strings.Join(args, " "), err)
		}
	}
}

// TestDeviceAsModelRefused: -m /dev/zero is refused before reading (it
// used to read until memory ran out).
func TestDeviceAsModelRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	for _, args := range [][]string{
		{"info", "-m", "/dev/zero"},
		{"generate", "-m", "/dev/zero", "-n", "1"},
		{"generate", "-m", "/dev/zero", "-n", "1", "--engine", "wasm"},
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("shear %s: error %v, want one saying /dev/zero is not a regular file", strings.Join(args, " "), err)
		}
	}
}

// TestHugeContextRefused: --ctx or -n far beyond the model's context is an
// error naming the limit, not a fatal out-of-memory.
func TestHugeContextRefused(t *testing.T) {
	needShared(t)
	for _, args := range [][]string{
		{"generate", "-m", storiesGGUF, "--ctx", "100000000"},
		{"generate", "-m", storiesGGUF, "-n", "100000000"},
		{"generate", "-m", storiesGGUF, "--ctx", "100000000", "--engine", "wasm"}, // was "internal error" and a stack trace
		{"generate", "-m", storiesGGUF, "-n", "100000000", "--engine", "wasm"},
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "context length") {
			t.Errorf("shear %s: error %v, want one naming the model's context length", strings.Join(args, " "), err)
		}
	}
}
