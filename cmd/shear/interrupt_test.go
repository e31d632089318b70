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
	needShared(t)
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"prune", "-m", storiesGGUF, "--data", tinyText, "--method", "magnitude", "--target", "0.2",
			"--recover-steps", "30", "--batch", "2", "--ctx", "32", "--calib-seqs", "2", "-o", out}
	}
	whole := filepath.Join(dir, "whole.gguf")
	if out, err := exec.Command(shearBinary(t), args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cut := filepath.Join(dir, "cut.gguf")
	ckpt := filepath.Join(cut+".work", "recover.ckpt")
	err, stderr := interruptWhen(t, func() bool { return exists(ckpt) }, args(cut)...)
	if err == nil {
		t.Skip("the run finished before the signal arrived")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no --resume hint after SIGINT in recovery: %s", stderr)
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
