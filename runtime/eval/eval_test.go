package eval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

func sharedPath(t testing.TB, rel string) string { return testshared.Path(t, rel) }

func stories(t testing.TB, dt tensor.DType) *model.Model {
	m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPerplexityMatchesLlamaCpp: docs/EVALUATION.md's numbers (llama.cpp): mean
// NLL 1.52944 / ppl 4.6156 over the first 100 chunks, 4.5920 over 40.
func TestPerplexityMatchesLlamaCpp(t *testing.T) {
	text, err := os.ReadFile(sharedPath(t, "data/tinystories-dev.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16} {
		m := stories(t, dt)
		tokens := m.Tok.Encode(string(text))
		if len(tokens) != 305842 {
			t.Fatalf("file tokenizes to %d tokens, llama.cpp has 305842", len(tokens))
		}
		for _, ref := range []struct {
			chunks int
			ppl    float64
		}{{40, 4.5920}, {100, 4.6156}} {
			if testing.Short() && ref.chunks > 40 {
				continue
			}
			res, err := Perplexity(m, tokens, 256, ref.chunks, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Scored != ref.chunks*255 || res.Chunks != ref.chunks {
				t.Errorf("%s: scored %d tokens in %d chunks", dt, res.Scored, res.Chunks)
			}
			if rel := math.Abs(res.PPL/ref.ppl - 1); rel > 0.002 {
				t.Errorf("%s, %d chunks: ppl %.4f, llama.cpp %.4f (%.3f%% off, limit 0.2%%)", dt, ref.chunks, res.PPL, ref.ppl, 100*rel)
			}
			t.Logf("%s, %d chunks: ppl %.4f (llama.cpp %.4f)", dt, ref.chunks, res.PPL, ref.ppl)
		}
	}
}

// TestMultipleChoiceMatchesLlamaCpp: acc 0.342 and acc_norm 0.416 on the
// 500 cloze items, within one item.
func TestMultipleChoiceMatchesLlamaCpp(t *testing.T) {
	items, err := ReadMC(sharedPath(t, "data/cloze-dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 500 {
		t.Fatalf("%d items", len(items))
	}
	res, err := MultipleChoice(context.Background(), stories(t, tensor.F32), items, 512, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Acc-0.342) > 1.0/500+1e-9 || math.Abs(res.AccNorm-0.416) > 1.0/500+1e-9 {
		t.Errorf("acc %.3f acc_norm %.3f, llama.cpp 0.342 / 0.416", res.Acc, res.AccNorm)
	}
	t.Logf("acc %.3f acc_norm %.3f", res.Acc, res.AccNorm)
}

func TestReadMCErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"bad-json": "{\"context\": \n",
		"gold":     `{"context":"a","choices":[" b"," c"],"gold":5}`,
		"empty":    "",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadMC(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLogProb(t *testing.T) {
	logits := []float32{1, 2, 3}
	z := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	if d := math.Abs(LogProb(logits, 1) - (2 - z)); d > 1e-12 {
		t.Errorf("LogProb off by %g", d)
	}
}

func BenchmarkPerplexity(b *testing.B) {
	text, _ := os.ReadFile(sharedPath(b, "data/tinystories-dev.txt"))
	m := stories(b, tensor.F16)
	tokens := m.Tok.Encode(string(text))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Perplexity(m, tokens, 256, 10, nil)
	}
}

// TestQuantizedPerplexity: Q8_0 storage stays within 1% of f32 on the
// reference protocol (40 chunks); Q4_0 is reported.
func TestQuantizedPerplexity(t *testing.T) {
	text, err := os.ReadFile(sharedPath(t, "data/tinystories-dev.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ppl := map[tensor.DType]float64{}
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q8_0, tensor.Q4_0} {
		m := stories(t, dt)
		res, err := Perplexity(m, m.Tok.Encode(string(text)), 256, 40, nil)
		if err != nil {
			t.Fatal(err)
		}
		ppl[dt] = res.PPL
	}
	if r := ppl[tensor.Q8_0] / ppl[tensor.F32]; r > 1.01 || r < 0.99 {
		t.Errorf("Q8_0 ppl %.4f vs f32 %.4f", ppl[tensor.Q8_0], ppl[tensor.F32])
	}
	t.Logf("ppl, 40 chunks: f32 %.4f, q8_0 %.4f, q4_0 %.4f", ppl[tensor.F32], ppl[tensor.Q8_0], ppl[tensor.Q4_0])
}

// TestMultipleChoiceBounded: the window is bounded by the model's context
// length (a default of 512 on a model of 128 tokens scores the items that
// fit exactly as a large window does, and names the item that does not),
// and cancelling stops between items.
func TestMultipleChoiceBounded(t *testing.T) {
	items, err := ReadMC(sharedPath(t, "data/cloze-dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	items = items[:6]
	m := stories(t, tensor.F32)
	want, err := MultipleChoice(context.Background(), m, items, 512, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.CtxLen = 128
	got, err := MultipleChoice(context.Background(), m, items, 512, nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range items {
		for c := range items[n].Choices {
			if math.Float64bits(got.Scores[n][c]) != math.Float64bits(want.Scores[n][c]) {
				t.Fatalf("item %d choice %d: %v in a window of 128, %v in 512", n, c, got.Scores[n][c], want.Scores[n][c])
			}
		}
	}
	long := MCItem{Context: strings.Repeat("Once upon a time there was a girl. ", 20), Choices: []string{" Lily", " Tom"}}
	if _, err := MultipleChoice(context.Background(), m, append(items[:2:2], long), 512, nil); err == nil || !strings.Contains(err.Error(), "item 2") || !strings.Contains(err.Error(), "context size 128") {
		t.Errorf("an item beyond the model's context: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := 0
	_, err = MultipleChoice(ctx, m, items, 0, func(d, _ int) {
		done = d
		if d == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || done != 2 {
		t.Errorf("cancelled after item 2: error %v, %d items done", err, done)
	}
}
