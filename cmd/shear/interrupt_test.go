package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The interruption tests run the real binary (a signal in-process would
// stop the test itself), built once per test process.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func shearBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shear-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "shear")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binPath)
	}
	return binPath
}

// interruptWhen starts shear with args, sends SIGINT once ready() holds
// (polled), and returns the exit error and stderr.
func interruptWhen(t *testing.T, ready func() bool, args ...string) (error, string) {
	t.Helper()
	cmd := exec.Command(shearBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for !ready() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the command never reached the point to interrupt")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	return err, stderr.String()
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestFinetuneInterruptResume (issue 17): SIGINT in finetune leaves the
// checkpoint and no model, prints the --resume hint, and resuming gives
// the bytes an uninterrupted run gives.
func TestFinetuneInterruptResume(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"finetune", "-m", storiesGGUF, "--data", tinyText, "--steps", "20", "--batch", "2", "--ctx", "32", "-o", out}
	}
	whole := filepath.Join(dir, "whole")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut")
	ckpt := filepath.Join(cut, "checkpoint.bin")
	err, stderr := interruptWhen(t, func() bool { return exists(ckpt) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT: %s", stderr)
	}
	if exists(filepath.Join(cut, "model.gguf")) {
		t.Error("an interrupted finetune wrote model.gguf")
	}
	if !exists(ckpt) {
		t.Fatal("no checkpoint after SIGINT")
	}
	if out, err := exec.Command(shearBinary(t), append(args(cut), "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(whole, "model.gguf"))
	b, _ := os.ReadFile(filepath.Join(cut, "model.gguf"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
}

// TestQuantizeInterruptLeavesNothing: SIGINT while quantize writes leaves
// the previous output as it was and no temporary file beside it.
func TestQuantizeInterruptLeavesNothing(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.gguf")
	if out, err := exec.Command(shearBinary(t), "init", "--shape", "15M", "-o", big).CombinedOutput(); err != nil {
		t.Skipf("init: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out.gguf")
	previous := []byte("the previous output")
	os.WriteFile(out, previous, 0o644)
	started := func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, ".out.gguf.tmp*"))
		return len(m) > 0
	}
	err, stderr := interruptWhen(t, started, "quantize", "-m", big, "--type", "q8_0", "-o", out)
	if err == nil {
		t.Skip("quantize finished before the signal arrived")
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, previous) {
		t.Errorf("the previous output changed (%d bytes): %s", len(b), stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".out.gguf.tmp*")); len(m) > 0 {
		t.Errorf("SIGINT left %v", m)
	}
}

// TestLorashearInterruptInRecovery (issue 17 item 6): SIGINT in the
// recovery stage prints the --resume hint (it used to end with "context
// canceled"), writes no output, and resuming gives the uninterrupted bytes.
func TestLorashearInterruptInRecovery(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"lorashear", "-m", storiesGGUF, "--data", tinyText, "--target", "0.2", "--lhspg-warmup", "2",
			"--periods", "1", "--period-steps", "2", "--recover-steps", "30", "--instruct-steps", "0", "--batch", "2",
			"--ctx", "32", "--eval-chunks", "2", "--calib-seqs", "2", "-o", out}
	}
	whole := filepath.Join(dir, "whole.gguf")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut.gguf")
	ckpt := filepath.Join(dir, "cut-report", "recover.ckpt.stage1")
	err, stderr := interruptWhen(t, func() bool { return exists(ckpt) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT in recovery: %s", stderr)
	}
	if exists(cut) {
		t.Error("an interrupted lorashear wrote its output")
	}
	if out, err := exec.Command(shearBinary(t), append(args(cut), "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(cut)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
}

// TestPruneInterruptInRecovery: SIGINT in prune's --recover-steps stage
// prints the --resume hint (it printed "context canceled"), writes no
// output, and resuming gives the uninterrupted bytes.
func TestPruneInterruptInRecovery(t *testing.T) {
	interruptPruneAndResume(t, []string{"--method", "magnitude", "--recover-steps", "30"}, "recover.ckpt", "")
}

// TestPruneInterruptInPruning: SIGINT during prune's LHSPG stage (before
// any recovery checkpoint) prints the --resume hint and writes no output,
// and resuming gives the bytes of an uninterrupted run.
func TestPruneInterruptInPruning(t *testing.T) {
	interruptPruneAndResume(t, []string{"--method", "lorashear", "--lhspg-warmup", "2", "--periods", "4", "--period-steps", "6",
		"--recover-steps", "4"}, "prune.ckpt", "recover.ckpt")
}

// interruptPruneAndResume runs `shear prune` with extra flags whole, then
// again with a SIGINT once OUT.work/ckpt exists (skipped if the run is
// already past it, i.e. after holds), and checks the hint, the absence of
// an output, that --resume reproduces the whole run's bytes, and that the
// finished run leaves no OUT.work.
func interruptPruneAndResume(t *testing.T, extra []string, ckpt, after string) {
	needShared(t)
	dir := t.TempDir()
	args := func(out string) []string {
		return append([]string{"prune", "-m", storiesGGUF, "--data", tinyText, "--target", "0.2",
			"--batch", "2", "--ctx", "32", "--calib-seqs", "2", "-o", out}, extra...)
	}
	whole := filepath.Join(dir, "whole.gguf")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut.gguf")
	err, stderr := interruptWhen(t, func() bool { return exists(filepath.Join(cut+".work", ckpt)) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if after != "" && exists(filepath.Join(cut+".work", after)) {
		t.Skipf("the signal arrived after %s was written", after)
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT (checkpoint %s): %s", ckpt, stderr)
	}
	if exists(cut) {
		t.Error("an interrupted prune wrote its output")
	}
	if out, err := exec.Command(shearBinary(t), append(args(cut), "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(cut)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
	if exists(cut + ".work") {
		t.Errorf("the finished run left %s.work", cut)
	}
}

// TestRecoverInterruptResume: SIGINT in recover's first stage prints the
// --resume hint, writes no output and leaves both inputs as they were;
// resuming gives the bytes an uninterrupted run gives, and the finished
// run removes its checkpoints.
func TestRecoverInterruptResume(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	pruned := filepath.Join(dir, "pruned.gguf")
	if out, err := exec.Command(shearBinary(t), "prune", "-m", storiesGGUF, "--data", tinyText, "--method", "magnitude",
		"--target", "0.2", "--recover-steps", "0", "--calib-seqs", "2", "--ctx", "32", "-o", pruned).CombinedOutput(); err != nil {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	inputs := map[string][]byte{}
	for _, p := range []string{pruned, storiesGGUF} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[p] = b
	}
	args := func(out string) []string {
		return []string{"recover", "-m", pruned, "--dense", storiesGGUF, "--data", tinyText, "--recover-steps", "30",
			"--instruct-steps", "0", "--estimate-every", "10", "--batch", "2", "--ctx", "32", "-o", out}
	}
	whole := filepath.Join(dir, "whole.gguf")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut.gguf")
	ckpt := filepath.Join(cut+".recover", "recover.ckpt.stage1")
	err, stderr := interruptWhen(t, func() bool { return exists(ckpt) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT: %s", stderr)
	}
	if exists(cut) {
		t.Error("an interrupted recover wrote its output")
	}
	if !exists(ckpt) {
		t.Fatal("no checkpoint after SIGINT")
	}
	if out, err := exec.Command(shearBinary(t), append(args(cut), "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(cut)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
	if exists(ckpt) {
		t.Errorf("the finished run left %s", ckpt)
	}
	for p, want := range inputs {
		if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
			t.Errorf("the input %s changed", p)
		}
	}
}

// TestConvertInterruptLeavesNothing: SIGINT while convert writes leaves
// the input and a previous GGUF output as they were and no temporary file
// or directory beside them. A Hugging Face directory is written into a
// temporary directory renamed when complete, so after SIGINT it is either
// absent or whole (it loads, with the input's bytes once converted back).
func TestConvertInterruptLeavesNothing(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.gguf")
	if out, err := exec.Command(shearBinary(t), "init", "--shape", "15M", "-o", big).CombinedOutput(); err != nil {
		t.Skipf("init: %v\n%s", err, out)
	}
	input, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
		return m
	}
	checkInput := func() {
		if b, _ := os.ReadFile(big); !bytes.Equal(b, input) {
			t.Error("convert changed its input")
		}
	}

	out := filepath.Join(dir, "out.gguf")
	previous := []byte("the previous output")
	os.WriteFile(out, previous, 0o644)
	err, stderr := interruptWhen(t, func() bool { return len(temps()) > 0 }, "convert", "-m", big, "--dtype", "f32", "-o", out)
	if err == nil {
		t.Log("convert to GGUF finished before the signal arrived")
	} else if !strings.Contains(stderr, "interrupted") {
		t.Errorf("convert stopped without saying it was interrupted: %v %s", err, stderr)
	} else if b, _ := os.ReadFile(out); !bytes.Equal(b, previous) {
		t.Errorf("the previous output changed (%d bytes): %s", len(b), stderr)
	}
	if m := temps(); len(m) > 0 {
		t.Errorf("SIGINT left %v", m)
	}
	checkInput()

	hfDir := filepath.Join(dir, "hf")
	err, stderr = interruptWhen(t, func() bool { return len(temps()) > 0 }, "convert", "-m", big, "-o", hfDir)
	if m := temps(); len(m) > 0 {
		t.Errorf("SIGINT left %v", m)
	}
	checkInput()
	if !exists(hfDir) {
		if err == nil {
			t.Errorf("convert exited 0 without writing %s: %s", hfDir, stderr)
		}
		return
	}
	whole := filepath.Join(dir, "hf-whole")
	if o, err := exec.Command(shearBinary(t), "convert", "-m", big, "-o", whole).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted convert: %v\n%s", err, o)
	}
	files, _ := os.ReadDir(whole)
	for _, f := range files {
		a, _ := os.ReadFile(filepath.Join(whole, f.Name()))
		b, err := os.ReadFile(filepath.Join(hfDir, f.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("the Hugging Face directory left after SIGINT differs from an uninterrupted one in %s (%v)", f.Name(), err)
		}
	}
	if got, _ := os.ReadDir(hfDir); len(got) != len(files) {
		t.Errorf("the Hugging Face directory left after SIGINT has %d files, an uninterrupted one %d", len(got), len(files))
	}
}

// TestLorashearInterruptInPruning: SIGINT during the LHSPG stage of
// lorashear (before recovery has begun) prints the --resume hint and
// writes no output; resuming gives the uninterrupted bytes.
func TestLorashearInterruptInPruning(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"lorashear", "-m", storiesGGUF, "--data", tinyText, "--target", "0.2", "--lhspg-warmup", "2",
			"--periods", "4", "--period-steps", "6", "--recover-steps", "4", "--instruct-steps", "0", "--batch", "2",
			"--ctx", "32", "--eval-chunks", "2", "--calib-seqs", "2", "-o", out}
	}
	whole := filepath.Join(dir, "whole.gguf")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut.gguf")
	report := filepath.Join(dir, "cut-report")
	err, stderr := interruptWhen(t, func() bool { return exists(filepath.Join(report, "prune.ckpt")) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if exists(filepath.Join(report, "recover.ckpt.stage1")) {
		t.Skip("the signal arrived after pruning had finished")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT in pruning: %s", stderr)
	}
	if exists(cut) {
		t.Error("an interrupted lorashear wrote its output")
	}
	if out, err := exec.Command(shearBinary(t), append(args(cut), "--resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(cut)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
}
