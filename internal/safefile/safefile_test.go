package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("model"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	write(t, in)
	other := filepath.Join(dir, "other.gguf")
	write(t, other)
	alias := filepath.Join(dir, "alias.gguf")
	if err := os.Symlink(in, alias); err != nil {
		t.Skip("no symbolic links:", err)
	}
	hard := filepath.Join(dir, "hard.gguf")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	hfDir := filepath.Join(dir, "hf")
	os.Mkdir(hfDir, 0o755)
	write(t, filepath.Join(hfDir, "model.safetensors"))
	linkDir := filepath.Join(dir, "link")
	os.Symlink(dir, linkDir)

	for _, c := range []struct {
		out    string
		inputs []string
		want   string // "" when allowed
	}{
		{filepath.Join(dir, "new.gguf"), []string{in}, ""},
		{other, []string{in}, ""},
		{other, []string{"", filepath.Join(dir, "missing")}, ""},
		{in, []string{in}, "is the input"},
		{in, []string{alias}, "is the input"},
		{alias, []string{in}, "is the input"},
		{hard, []string{in}, "is the input"},
		{filepath.Join(dir, ".", "in.gguf"), []string{filepath.Join(linkDir, "in.gguf")}, "is the input"},
		{dir, []string{filepath.Join(linkDir, "in.gguf")}, "contains the input"},
		{hfDir, []string{hfDir}, "is the input"},
		{filepath.Join(hfDir, "model.safetensors"), []string{hfDir}, "inside the input directory"},
		{filepath.Join(hfDir, "new.gguf"), []string{hfDir}, ""},
		{filepath.Join(dir, "elsewhere"), []string{hfDir}, ""},
	} {
		err := CheckOutput(c.out, c.inputs...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckOutput(%s, %v) = %v, want nil", c.out, c.inputs, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckOutput(%s, %v) = %v, want an error with %q", c.out, c.inputs, err, c.want)
		}
	}
}

func TestReadFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	write(t, in)
	if b, err := ReadFile(in); err != nil || string(b) != "model" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	alias := filepath.Join(dir, "alias")
	if os.Symlink(in, alias) == nil {
		if b, err := ReadFile(alias); err != nil || string(b) != "model" {
			t.Fatalf("ReadFile through a link = %q, %v", b, err)
		}
	}
	cases := map[string]string{dir: "a directory"}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases["/dev/zero"] = "a character device"
	}
	if fifo, ok := makeFIFO(dir); ok {
		cases[fifo] = "a named pipe" // opening it would block: refused before
	}
	for path, want := range cases {
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want an error naming %s", path, err, want)
		}
	}
}
