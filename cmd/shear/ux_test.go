package main

import (
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shear-ai/shear/prune"
)

// The tests of #19, the first hour of a new user.

// runText runs one shear command in-process without --json and returns
// what it printed on stdout.
func runText(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	saved := os.Stdout
	os.Stdout = out
	root := newRoot()
	root.SetOut(out)
	root.SetArgs(args)
	runErr := root.Execute()
	os.Stdout = saved
	g = globals{}
	out.Seek(0, 0)
	b, _ := io.ReadAll(out)
	return string(b), runErr
}

// TestVersion: --version names the Go toolchain and platform.
func TestVersion(t *testing.T) {
	out, err := runText(t, "--version")
	if err != nil || !strings.HasPrefix(out, "shear ") || !strings.Contains(out, "go1.") {
		t.Errorf("shear --version: %q, %v", out, err)
	}
}

// TestGenerateEchoesPrompt: the text output starts with the prompt (as
// llama.cpp's does), followed by the generated text; --temp 0 gives the
// greedy continuation --json reports.
func TestGenerateEchoesPrompt(t *testing.T) {
	needShared(t)
	const prompt = "Once upon a time"
	out, err := runText(t, "generate", "-m", storiesGGUF, "-p", prompt, "-n", "16", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, "generate", "-m", storiesGGUF, "-p", prompt, "-n", "16", "--temp", "0")
	if want := prompt + res["text"].(string) + "\n"; out != want {
		t.Errorf("generate printed %q, want the prompt and then the text: %q", out, want)
	}
}

// TestDefaultSamplingDoesNotLoop: the CLI's default sampler (llama.cpp's)
// on the embedded model does not fall into the loop greedy decoding falls
// into ("the courts of the courts, and the courts of …").
func TestDefaultSamplingDoesNotLoop(t *testing.T) {
	greedy := mustRun(t, "generate", "-p", "It was a truth", "-n", "60", "--temp", "0")["tokens"].([]any)
	sampled := mustRun(t, "generate", "-p", "It was a truth", "-n", "60")["tokens"].([]any)
	if d, s := distinct(greedy), distinct(sampled); s <= d || s < 30 {
		t.Errorf("default sampling: %d distinct tokens of 60 (greedy %d)", s, d)
	}
}

func distinct(tokens []any) int {
	seen := map[any]bool{}
	for _, t := range tokens {
		seen[t] = true
	}
	return len(seen)
}

// TestEmbeddedHeldOut: ppl and eval without a text score the embedded
// held-out text (the same number), and eval's table names files by their
// base names.
func TestEmbeddedHeldOut(t *testing.T) {
	a := mustRun(t, "ppl", "--chunks", "2")
	b := mustRun(t, "eval", "--chunks", "2")
	if a["ppl"] == nil || a["ppl"] != b["ppl"] || a["tokens_scored"].(float64) != 510 {
		t.Errorf("ppl without -f: %v; eval without --ppl: %v", a, b)
	}
	needShared(t)
	out, err := runText(t, "eval", "-m", storiesGGUF, "--ppl", tinyText, "--chunks", "1")
	if err != nil || !strings.Contains(out, "| ppl tinystories-dev.txt |") {
		t.Errorf("eval table: %q, %v", out, err)
	}
}

// TestTimeLeft: the estimate comes from the rate since the first update,
// so a run resumed at step 50 of 100 that took 10 s for 10 steps has 40 s
// left (not the 6.7 s a rate counted from step 0 gives).
func TestTimeLeft(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if _, ok := timeLeft(50, t0, 50, 100, t0); ok {
		t.Error("a time left before any progress")
	}
	if left, ok := timeLeft(50, t0, 60, 100, t0.Add(10*time.Second)); !ok || left != 40*time.Second {
		t.Errorf("resumed at 50, at 60 after 10 s: %v left, want 40s", left)
	}
	if got := short(3*time.Minute + 10*time.Second); got != "3m10s" {
		t.Errorf("short(3m10s) = %q", got)
	}
}

// TestProgressLines: off a terminal a run of 1940 units prints a line
// per tenth (and the last), each with the time left, not a line per
// update.
func TestProgressLines(t *testing.T) {
	r, w, _ := os.Pipe()
	saved := os.Stderr
	os.Stderr = w
	p := newProgress("analyze", 1940)
	for i := 1; i <= 1940; i++ {
		p.update(i, 1940)
	}
	p.finish()
	os.Stderr = saved
	w.Close()
	b, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 10 || len(lines) > 12 || !strings.Contains(lines[0], "left") || !strings.HasPrefix(lines[len(lines)-1], "analyze: 1940/1940 (100%)") {
		t.Errorf("%d lines:\n%s", len(lines), b)
	}
}

// TestReportPlots renders every plot of a pruning report, a loss curve
// and a heatmap from synthetic data into PNGs that decode (look at them:
// SHEAR_PLOTS=DIR keeps them in DIR).
func TestReportPlots(t *testing.T) {
	dir := t.TempDir()
	if keep := os.Getenv("SHEAR_PLOTS"); keep != "" {
		dir = keep
	}
	rep := &prune.Report{Target: 0.2, Heads: []int{8, 6, 7, 8, 6}, FFN: []int{300, 142, 379, 250, 200},
		DenseHeads: []int{8, 8, 8, 8, 8}, DenseFFN: []int{384, 384, 384, 384, 384}}
	var steps, loss []float64
	for s := 1; s <= 200; s++ {
		l := 3 + 2*math.Exp(-float64(s)/40) + 0.3*math.Sin(float64(s)*1.7)
		frac := math.Min(0.2, float64(s)/800)
		rep.Log = append(rep.Log, prune.StepLog{Step: s, Loss: l, ParamSparsity: frac, Sparsity: frac * 1.7})
		steps, loss = append(steps, float64(s)), append(loss, l)
	}
	if err := savePruneReportPlots(dir, rep); err != nil {
		t.Fatal(err)
	}
	if err := saveLossPlot(filepath.Join(dir, "loss-ft.png"), "training loss", steps, loss, []float64{1, 100, 200}, []float64{5, 3.5, 3.2}); err != nil {
		t.Fatal(err)
	}
	// the default model's analysis (shear analyze on emma.txt), one cell blank
	means := map[string][]float64{"attention": {0.0242, 0.0038, 0.0221, 0.0366, 0.0841}, "mlp": {0.00073, 6.3e-5, math.NaN(), 0.00012, 0.00045}}
	if err := saveHeatmap(filepath.Join(dir, "heatmap.png"), "mean loss deviation", means); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loss.png", "sparsity.png", "widths.png", "loss-ft.png", "heatmap.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 500 {
			t.Errorf("%s: %v, %v", name, err, img.Bounds())
		}
	}
}
