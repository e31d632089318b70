package main

import (
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/train"
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
	rrep := &prune.RecoverReport{Subsets: []string{"emma.txt", "persuasion.txt", "sense.txt"}, WeightSteps: []int{0, 25, 50, 75}}
	for k := range 4 {
		w := 1 / (3 + float64(k))
		rrep.Weights = append(rrep.Weights, []float64{w, w * float64(k+1), 1 - w - w*float64(k+1)})
	}
	for s := 1; s <= 100; s++ {
		rrep.Log1 = append(rrep.Log1, train.StepInfo{Step: s, Loss: loss[s-1]})
	}
	for s := 1; s <= 30; s++ {
		rrep.Log2 = append(rrep.Log2, train.StepInfo{Step: s, Loss: 2 + 0.3*math.Sin(float64(s))})
	}
	if err := saveRecoveryPlots(dir, rrep); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loss.png", "sparsity.png", "widths.png", "loss-ft.png", "heatmap.png", "subset-weights.png", "recovery-loss.png"} {
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

// storageOf is `shear info`'s storage of a model file ("f16", "f16+q8_0").
func storageOf(t *testing.T, path string) string {
	t.Helper()
	s, _ := mustRun(t, "info", "-m", path)["storage"].(string)
	return s
}

// TestOutputKeepsStorage (#19.1): every command that writes a model keeps
// the input's storage unless --dtype says otherwise (prune and lorashear
// used to write f32 from an f16 input, finetune f16 from an f32 one), and
// reports the file size before and after. stories260K's FFN width 172 is
// not whole Q8_0 blocks, so its w_down stays f16 in a q8_0 file, as in
// llama.cpp.
func TestOutputKeepsStorage(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	in := map[string]string{}
	for _, dt := range []string{"f16", "q8_0"} {
		in[dt] = filepath.Join(dir, "in-"+dt+".gguf")
		mustRun(t, "quantize", "-m", storiesGGUF, "--type", dt, "-o", in[dt])
	}
	if got := storageOf(t, in["q8_0"]); got != "f16+q8_0" {
		t.Fatalf("q8_0 input holds %s", got)
	}
	fast := []string{"--data", tinyText, "--ctx", "32", "--batch", "2", "--lhspg-warmup", "2", "--periods", "1", "--period-steps", "2", "--calib-seqs", "2"}
	writers := []struct {
		name string
		args func(input, out string) []string
	}{
		{"compress", func(input, out string) []string {
			return []string{"compress", "-m", input, "--remove", "0,1,25,26", "-o", out}
		}},
		{"convert", func(input, out string) []string { return []string{"convert", "-m", input, "-o", out} }},
		{"prune", func(input, out string) []string {
			return append([]string{"prune", "-m", input, "--method", "magnitude", "--target", "0.2", "--recover-steps", "2", "-o", out}, fast...)
		}},
		{"lorashear", func(input, out string) []string {
			return append([]string{"lorashear", "-m", input, "--target", "0.2", "--recover-steps", "3", "--instruct-steps", "0", "--eval-chunks", "1", "-o", out}, fast...)
		}},
		{"finetune", func(input, out string) []string {
			return []string{"finetune", "-m", input, "--instruct", instructFile, "--steps", "2", "--batch", "2", "--ctx", "64", "--dev-max", "4", "-o", out}
		}},
	}
	for dt, input := range in {
		want := storageOf(t, input)
		for _, w := range writers {
			if w.name == "lorashear" && dt != "f16" {
				continue // the slowest; its output is written as prune's is
			}
			out := filepath.Join(dir, w.name+"-"+dt+".gguf")
			if w.name == "finetune" {
				out = filepath.Join(dir, "finetune-"+dt) // a directory
			}
			res := mustRun(t, w.args(input, out)...)
			written := out
			if w.name == "finetune" {
				written = filepath.Join(out, "model.gguf")
				// merge the adapter finetune wrote back into the same input
				merged := filepath.Join(dir, "merge-"+dt+".gguf")
				mres := mustRun(t, "merge", "-m", input, "--adapter", out, "-o", merged)
				if got := storageOf(t, merged); got != want || mres["dtype"] != want {
					t.Errorf("merge of a %s model wrote %s (reported %v)", dt, got, mres["dtype"])
				}
			}
			if got := storageOf(t, written); got != want {
				t.Errorf("%s of a %s model (%s) wrote %s", w.name, dt, want, got)
			}
			if res["dtype"] != want || res["input_bytes"] != float64(app.SizeOf(input)) || res["bytes"] != float64(app.SizeOf(written)) {
				t.Errorf("%s reports dtype %v, %v → %v bytes; the files: %s, %d → %d", w.name, res["dtype"], res["input_bytes"], res["bytes"], want, app.SizeOf(input), app.SizeOf(written))
			}
		}
	}
	// --dtype names another storage, for a pruned model too
	out := filepath.Join(dir, "prune-as-q8.gguf")
	mustRun(t, append([]string{"prune", "-m", in["f16"], "--method", "magnitude", "--recover-steps", "2", "--dtype", "q8_0", "-o", out}, fast...)...)
	if got := storageOf(t, out); !strings.Contains(got, "q8_0") {
		t.Errorf("prune --dtype q8_0 wrote %s", got)
	}
	// recover keeps the pruned model's storage
	rec := filepath.Join(dir, "recovered.gguf")
	res := mustRun(t, "recover", "-m", filepath.Join(dir, "prune-f16.gguf"), "--dense", in["f16"], "--data", tinyText,
		"--recover-steps", "2", "--instruct-steps", "0", "--ctx", "32", "--batch", "2", "-o", rec)
	if got := storageOf(t, rec); got != "f16" || res["dtype"] != "f16" {
		t.Errorf("recover of an f16 pruned model wrote %s", got)
	}
}

// TestPrunedContinuesSanely (#19.3): a model pruned by prune's defaults
// (the lorashear method, then recovery), with short schedules, continues
// from BOS with text rather than one repeated token ("ssssssss." was what
// prune wrote when it skipped recovery by default), and its perplexity
// stays within 4× the dense model's.
func TestPrunedContinuesSanely(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "p.gguf")
	mustRun(t, "prune", "-m", storiesGGUF, "--data", tinyText, "--ctx", "64", "--batch", "4", "--lhspg-warmup", "5",
		"--periods", "3", "--period-steps", "5", "--recover-steps", "40", "-o", out)
	toks := mustRun(t, "generate", "-m", out, "--temp", "0", "-n", "40", "--ignore-eos")["tokens"].([]any)
	run, longest := 1, 1
	for i := 1; i < len(toks); i++ {
		if toks[i] == toks[i-1] {
			run++
		} else {
			run = 1
		}
		longest = max(longest, run)
	}
	if d := distinct(toks); d < 15 || longest > 3 {
		t.Errorf("greedy from BOS: %d distinct tokens of %d, a run of %d equal ones: %v", d, len(toks), longest, toks)
	}
	evalText := filepath.Join(dir, "eval.txt")
	raw, _ := os.ReadFile(tinyText)
	os.WriteFile(evalText, raw[len(raw)-40000:], 0o644)
	dense := mustRun(t, "ppl", "-m", storiesGGUF, "-f", evalText)["ppl"].(float64)
	pruned := mustRun(t, "ppl", "-m", out, "-f", evalText)["ppl"].(float64)
	if pruned > 4*dense {
		t.Errorf("pruned ppl %.2f, dense %.2f", pruned, dense)
	}
	t.Logf("greedy from BOS: %d distinct of %d; ppl %.2f (dense %.2f)", distinct(toks), len(toks), pruned, dense)
}

// TestDefaultModelDocCommands (#19.4): the commands docs/DEFAULT_MODEL.md
// opens with run from a directory that is not the checkout (they use
// only what is embedded).
func TestDefaultModelDocCommands(t *testing.T) {
	doc, err := os.ReadFile("../../docs/DEFAULT_MODEL.md")
	if err != nil {
		t.Fatal(err)
	}
	block := strings.SplitN(strings.SplitN(string(doc), "```sh\n", 2)[1], "```", 2)[0]
	t.Chdir(t.TempDir())
	word := regexp.MustCompile(`"[^"]*"|\S+`)
	n := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if !strings.HasPrefix(line, "shear ") {
			continue
		}
		var args []string
		for _, w := range word.FindAllString(line, -1)[1:] {
			args = append(args, strings.Trim(w, `"`))
		}
		if _, err := runCLI(t, args...); err != nil {
			t.Errorf("%s: %v", line, err)
		}
		n++
	}
	if n < 3 {
		t.Errorf("found %d commands in docs/DEFAULT_MODEL.md", n)
	}
}

// TestEmbeddedTrainingData (#19.4): finetune and prune without --data or
// --instruct train on the embedded Austen data instead of failing.
func TestEmbeddedTrainingData(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	res := mustRun(t, "finetune", "-m", storiesGGUF, "--steps", "2", "--batch", "1", "--ctx", "256", "--dev-max", "4", "-o", filepath.Join(dir, "ft"))
	if n := res["train_sequences"].(float64); n < 300 { // of the 400 embedded instructions
		t.Errorf("finetune trained on %v sequences", n)
	}
	res = mustRun(t, "prune", "-m", storiesGGUF, "--method", "magnitude", "--recover-steps", "1", "--ctx", "32", "--batch", "2", "-o", filepath.Join(dir, "p.gguf"))
	if r := res["ratio"].(float64); r < 0.19 {
		t.Errorf("prune removed %v", r)
	}
}
