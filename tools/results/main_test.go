package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
)

// TestQuick runs -quick end to end into a temporary directory: every
// table of the output has rows as wide as its header, every run of the
// plan has its row with numbers in it, the plots exist; a second run
// finds every run in the cache and writes the same tables.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole driver (-quick)")
	}
	shared := filepath.Dir(testshared.Path(t, "models/stories260K.gguf"))
	shared = filepath.Dir(shared)
	dir := t.TempDir()
	c := config{shared: shared, split: "test", out: filepath.Join(dir, "RESULTS.md"), plots: filepath.Join(dir, "plots"),
		cache: filepath.Join(dir, "cache"), quick: true, scale: 1, seeds: 3, workers: 2}
	var log bytes.Buffer
	if err := run(context.Background(), c, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	first, err := os.ReadFile(c.out)
	if err != nil {
		t.Fatal(err)
	}
	tables := parseTables(t, string(first))
	main := 0
	for _, tb := range tables {
		if tb.header[0] != "method" || tb.header[1] != "removed (target)" {
			continue
		}
		main++
		if tb.rows[0][0] != "dense" || len(tb.rows) != 1+2*2 {
			t.Errorf("main table %d: rows %v, want dense + 2 methods × 2 ratios", main, tb.rows)
		}
		for _, r := range tb.rows[1:] {
			for _, col := range []int{3, 4} { // ppl, ppl / dense
				if v, err := strconv.ParseFloat(r[col], 64); err != nil || !(v > 0) {
					t.Errorf("row %v: %s = %q is not a positive number", r, tb.header[col], r[col])
				}
			}
		}
	}
	if main != 2 {
		t.Errorf("%d main tables, want one per model", main)
	}
	for _, p := range []string{"test-stories260K-ppl.svg", "test-austen-ppl.svg", "test-stories260K-knowledge.svg", "test-austen-knowledge.svg"} {
		if b, err := os.ReadFile(filepath.Join(c.plots, p)); err != nil || !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("plot %s: %v", p, err)
		}
		if !strings.Contains(string(first), "plots/"+p) {
			t.Errorf("%s is not linked", p)
		}
	}

	log.Reset()
	if err := run(context.Background(), c, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "8 runs (8 cached)") {
		t.Errorf("second run did not resume from the cache:\n%s", log.String())
	}
	second, err := os.ReadFile(c.out)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := afterSetup(string(first)), afterSetup(string(second)); a != b {
		t.Errorf("the cached run wrote other tables:\n%s\n----\n%s", a, b)
	}
}

// afterSetup is the output from the first model's section on (the setup
// names the date and the load).
func afterSetup(s string) string {
	i := strings.Index(s, "\n## stories260K")
	if i < 0 {
		return ""
	}
	// Wall times and the dense evaluation time differ between runs.
	var out []string
	for _, l := range strings.Split(s[i:], "\n") {
		if strings.HasPrefix(l, "| ") && strings.Contains(l, "(eval)") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

type table struct {
	header []string
	rows   [][]string
}

// parseTables reads the Markdown tables of s, failing on a row whose
// width differs from its header's.
func parseTables(t *testing.T, s string) []table {
	var out []table
	var cur *table
	cells := func(l string) []string {
		f := strings.Split(strings.Trim(l, "|"), "|")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		return f
	}
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "|") {
			cur = nil
			continue
		}
		c := cells(l)
		switch {
		case cur == nil:
			out = append(out, table{header: c})
			cur = &out[len(out)-1]
		case strings.Trim(strings.Join(c, ""), "-") == "":
		default:
			if len(c) != len(cur.header) {
				t.Errorf("row %q has %d cells, its header %d", l, len(c), len(cur.header))
			}
			cur.rows = append(cur.rows, c)
		}
	}
	if len(out) == 0 {
		t.Fatal("no tables")
	}
	return out
}

// TestCodeCommit: the cache key is a real commit of this repository that
// changed one of the driver's packages, and HEAD descends from it.
func TestCodeCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if exec.Command("git", "rev-parse", "HEAD").Run() != nil {
		t.Skip("not a git checkout")
	}
	c, _ := codeCommit()
	if c == "unknown" {
		t.Fatal("no code commit found in a git checkout")
	}
	if err := exec.Command("git", "merge-base", "--is-ancestor", c, "HEAD").Run(); err != nil {
		t.Fatalf("code commit %s is not an ancestor of HEAD: %v", c, err)
	}
	out, err := exec.Command("git", "show", "--name-only", "--format=", c).Output()
	if err != nil {
		t.Fatal(err)
	}
	linked := false
	for _, f := range strings.Fields(string(out)) {
		if f == "go.mod" || f == "go.sum" || strings.HasPrefix(f, "prune/") || strings.HasPrefix(f, "runtime/") || strings.HasPrefix(f, "simd/") || strings.HasPrefix(f, "quant/") || strings.HasPrefix(f, "internal/") || strings.HasPrefix(f, "tools/results/") || strings.HasPrefix(f, "assets/") {
			linked = true
		}
	}
	if !linked {
		t.Errorf("code commit %s changed only %q, none of it linked by the driver", c, out)
	}
}
