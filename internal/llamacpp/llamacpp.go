// Package llamacpp compares a model Shear runs with llama.cpp's own tools
// on the file Shear wrote (tests only): greedy text from BOS (llama-cli)
// and perplexity under llama-perplexity's protocol.
package llamacpp

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
)

// Threads is the tools' thread count: one, since the tests share the
// machine (two threads spin against each other under load).
const Threads = 1

// Greedy decodes steps tokens from BOS with Shear and with llama-cli
// (cli) on path, the file m was loaded from, and returns both texts.
func Greedy(t testing.TB, m *model.Model, cli, path string, steps, ctx int) (shear, llama string) {
	t.Helper()
	st := m.NewState(steps+1, 1)
	var ids []int
	logits, err := st.Forward([]int{m.Tok.BOS()}, false)
	for range steps {
		if err != nil {
			t.Fatal(err)
		}
		id := sample.Argmax(logits)
		ids = append(ids, id)
		logits, err = st.Forward([]int{id}, false)
	}
	b, err := exec.Command(cli, "-m", path, "-p", "", "-n", fmt.Sprint(steps), "--temp", "0", "-no-cnv",
		"-t", fmt.Sprint(Threads), "-c", fmt.Sprint(ctx), "--no-warmup", "-s", "1", "--ignore-eos", "--no-display-prompt").Output()
	if err != nil {
		skipIfForeignCPU(t, err)
		t.Fatalf("llama-cli: %v", err)
	}
	return strings.TrimSpace(m.Tok.Decode(ids)), strings.TrimSpace(string(b))
}

// Perplexity returns Shear's and llama-perplexity's (tool) perplexity,
// with chunks of ctx tokens, of the first limit bytes of textFile; m was
// loaded from path.
func Perplexity(t testing.TB, m *model.Model, tool, path, textFile string, limit, ctx int) (shear, llama float64) {
	t.Helper()
	text, err := os.ReadFile(textFile)
	if err != nil {
		t.Fatal(err)
	}
	text = text[:min(limit, len(text))]
	txt := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(txt, text, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(tool, "-m", path, "-f", txt, "-c", fmt.Sprint(ctx), "-b", fmt.Sprint(ctx), "-t", fmt.Sprint(Threads)).CombinedOutput()
	if err != nil {
		skipIfForeignCPU(t, err)
		t.Fatalf("llama-perplexity: %v\n%s", err, b)
	}
	mm := regexp.MustCompile(`Final estimate: PPL = ([0-9.]+)`).FindSubmatch(b)
	if mm == nil {
		t.Fatalf("no final estimate in llama-perplexity's output:\n%s", b)
	}
	llama, _ = strconv.ParseFloat(string(mm[1]), 64)
	return protocolPerplexity(t, m, string(text), ctx), llama
}

// protocolPerplexity is llama-perplexity's default scoring: the
// tokenization with BOS cut into chunks of ctx tokens, each chunk's first
// token replaced by BOS, and only the second half of each chunk scored.
func protocolPerplexity(t testing.TB, m *model.Model, text string, ctx int) float64 {
	tokens := append([]int{m.Tok.BOS()}, m.Tok.Encode(text)...)
	st := m.NewState(ctx, ctx)
	var nll float64
	var n int
	for c := 0; (c+1)*ctx <= len(tokens); c++ {
		chunk := slices.Clone(tokens[c*ctx : (c+1)*ctx])
		chunk[0] = m.Tok.BOS()
		st.Reset()
		logits, err := st.Forward(chunk, true)
		if err != nil {
			t.Fatal(err)
		}
		for j := ctx / 2; j < ctx-1; j++ {
			nll -= eval.LogProb(logits[j*m.Vocab:(j+1)*m.Vocab], tokens[c*ctx+j+1])
			n++
		}
	}
	return math.Exp(nll / float64(n))
}

// Check fails t unless Shear's greedy text from BOS (steps tokens, a
// context of greedyCtx) equals llama-cli's and its perplexity of the first
// 20,000 bytes of textFile (chunks of 128) is llama-perplexity's within
// 0.1%; m was loaded from path.
func Check(t testing.TB, m *model.Model, cli, ppl, path, textFile string, steps, greedyCtx int) {
	t.Helper()
	want, got := Greedy(t, m, cli, path, steps, greedyCtx)
	if got != want {
		t.Errorf("greedy text from BOS:\nllama.cpp %q\nShear     %q", got, want)
	}
	shear, ref := Perplexity(t, m, ppl, path, textFile, 20000, 128)
	if rel := math.Abs(shear/ref - 1); rel > 1e-3 {
		t.Errorf("perplexity %.4f, llama-perplexity %.4f (%.3f%% off)", shear, ref, 100*rel)
	}
	t.Logf("greedy %d tokens equal (%q); ppl %.4f, llama-perplexity %.4f", steps, want, shear, ref)
}

// skipIfForeignCPU skips the test when llama.cpp died of SIGILL: the
// shared native build (../shared/tools/llama.cpp) was compiled for another
// CPU's instruction set and cannot run on this one. The same checks run
// in `make interop` through node-llama-cpp, which picks its kernels at run
// time.
func skipIfForeignCPU(t testing.TB, err error) {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGILL {
			t.Skipf("llama.cpp's native build does not run on this CPU (%v): it was built for another instruction set", err)
		}
	}
}
