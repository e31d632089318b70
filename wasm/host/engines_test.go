package host_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/wasm/host"
)

func loadStories(t testing.TB, mode host.Mode) *host.Model {
	t.Helper()
	m, err := engine(t, mode).Load(context.Background(), readShared(t, "models/stories260K.gguf"), host.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// pplText is the start of tinystories-dev.txt, cut at a paragraph: enough
// for the first 10 chunks of 255 tokens.
func pplText(t testing.TB) string {
	b := readShared(t, "data/tinystories-dev.txt")
	n := 40 << 10
	if i := bytes.Index(b[n:], []byte("\n\n")); i >= 0 {
		n += i
	}
	return string(b[:n])
}

func clozeItems(t testing.TB, n int) []eval.MCItem {
	sc := bufio.NewScanner(bytes.NewReader(readShared(t, "data/cloze-dev.jsonl")))
	sc.Buffer(nil, 1<<20)
	var items []eval.MCItem
	for sc.Scan() && len(items) < n {
		var it eval.MCItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// outcome is what one engine computed on stories260K.
type outcome struct {
	greedy []int
	logits []float32
	ppl    eval.PPLResult
	scores host.ScoreResult
}

// TestEnginesAgree runs stories260K on the three engines: greedy tokens
// against llama.cpp's reference, the logits of 128 tokens, perplexity on
// the first 10 chunks of tinystories-dev and the scores of the first 50
// cloze items.
//
// All three agree bit for bit (on amd64): HostKernels runs the products
// and every vector kernel with an assembly path natively on the host; Pure
// runs the portable kernels, which model the assembly exactly (same lanes
// and order of additions, emulated fused multiply-adds, the same e^x
// polynomial; see simd/doc.go); the rest of the forward pass is plain Go,
// which rounds alike in wasm and on amd64, and evaluation uses simd's
// portable Exp64/Log64 rather than the standard library's assembly. So
// logits, perplexity (its float64 mean log-likelihood) and every cloze
// score must be identical, not merely close.
func TestEnginesAgree(t *testing.T) {
	ref := greedyReference(t)
	text := pplText(t)
	items := clozeItems(t, 50)
	var mu sync.Mutex
	got := map[host.Mode]outcome{}
	t.Run("run", func(t *testing.T) {
		for _, mode := range modes {
			t.Run(mode.String(), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				m := loadStories(t, mode)
				var o outcome
				t0 := time.Now()
				defer func() { t.Logf("%v: %v", mode, time.Since(t0)) }()
				res, err := m.Generate(ctx, host.GenerateRequest{N: len(ref), IgnoreEOS: true})
				if err != nil {
					t.Fatal(err)
				}
				o.greedy = res.Tokens
				if !strings.HasPrefix(res.Text, "Once upon a time, there was a little girl named Lily.") {
					t.Errorf("text %.60q", res.Text)
				}
				toks, err := m.Tokenize(ctx, text, true)
				if err != nil {
					t.Fatal(err)
				}
				if o.logits, err = m.Logits(ctx, toks[:128]); err != nil {
					t.Fatal(err)
				}
				if o.ppl, err = m.Perplexity(ctx, host.PerplexityRequest{Text: text, Ctx: 256, Chunks: 10}); err != nil {
					t.Fatal(err)
				}
				if o.scores, err = m.Score(ctx, host.ScoreRequest{Items: items, Ctx: 512}); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				got[mode] = o
				mu.Unlock()
			})
		}
	})
	if len(got) != len(modes) {
		t.FailNow()
	}
	nat := got[host.Native]
	if nat.ppl.Chunks != 10 || nat.ppl.Scored != 2550 || len(nat.scores.Scores) != 50 {
		t.Fatalf("native: %+v, %d items", nat.ppl, len(nat.scores.Scores))
	}
	t.Logf("native: ppl %.6f (nll %.8f), acc %.2f, acc_norm %.2f", nat.ppl.PPL, nat.ppl.NLL, nat.scores.Acc, nat.scores.AccNorm)
	for _, mode := range modes {
		o := got[mode]
		for i := range ref {
			if i >= len(o.greedy) || o.greedy[i] != ref[i] {
				t.Fatalf("%v: greedy token %d differs from llama.cpp's reference: got %v, want %v", mode, i, o.greedy[:min(i+1, len(o.greedy))], ref[:i+1])
			}
		}
		if mode == host.Native {
			continue
		}
		if len(o.logits) != len(nat.logits) {
			t.Fatalf("%v: %d logits, native %d", mode, len(o.logits), len(nat.logits))
		}
		var maxAbs, maxLogit float64
		same := 0
		for i, v := range o.logits {
			if math.Float32bits(v) == math.Float32bits(nat.logits[i]) {
				same++
			}
			maxAbs = math.Max(maxAbs, math.Abs(float64(v-nat.logits[i])))
			maxLogit = math.Max(maxLogit, math.Abs(float64(nat.logits[i])))
		}
		pplRel := math.Abs(o.ppl.PPL-nat.ppl.PPL) / nat.ppl.PPL
		var scoreRel float64
		sameScores, nScores := 0, 0
		for i := range nat.scores.Scores {
			for c, want := range nat.scores.Scores[i] {
				have := o.scores.Scores[i][c]
				scoreRel = math.Max(scoreRel, math.Abs(have-want)/math.Abs(want))
				nScores++
				if have == want {
					sameScores++
				}
			}
		}
		t.Logf("%v: logits %d/%d bit-identical (max |Δ| %.3g of max |logit| %.3g); ppl %.6f (rel Δ %.3g, nll bit-identical %v); scores %d/%d bit-identical (max rel Δ %.3g); acc %.2f acc_norm %.2f",
			mode, same, len(o.logits), maxAbs, maxLogit, o.ppl.PPL, pplRel, o.ppl.NLL == nat.ppl.NLL, sameScores, nScores, scoreRel, o.scores.Acc, o.scores.AccNorm)
		if o.scores.Acc != nat.scores.Acc || o.scores.AccNorm != nat.scores.AccNorm || o.ppl.Scored != nat.ppl.Scored {
			t.Errorf("%v: acc %v/%v, scored %d; native %v/%v, %d", mode, o.scores.Acc, o.scores.AccNorm, o.ppl.Scored, nat.scores.Acc, nat.scores.AccNorm, nat.ppl.Scored)
		}
		if runtime.GOARCH == "amd64" {
			if same != len(o.logits) || o.ppl.NLL != nat.ppl.NLL || sameScores != nScores {
				t.Errorf("%v: %d of %d logits, nll %v (native %v), %d of %d scores differ from native's bits",
					mode, len(o.logits)-same, len(o.logits), o.ppl.NLL, nat.ppl.NLL, nScores-sameScores, nScores)
			}
		} else if maxAbs > 1e-4*maxLogit || pplRel > 1e-5 || scoreRel > 1e-5 {
			// Elsewhere Go may fuse multiply-adds in the plain-Go parts.
			t.Errorf("%v: logits differ by up to %g, ppl rel Δ %g, scores rel Δ %g", mode, maxAbs, pplRel, scoreRel)
		}
	}
}

// TestStream checks the step API against the batch call.
func TestStream(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []host.Mode{host.Native, host.HostKernels} {
		m := loadStories(t, mode)
		req := host.GenerateRequest{Prompt: "Once upon a time", N: 40, Temperature: 0.8, TopP: 0.9, Seed: 7}
		want, err := m.Generate(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var toks []int
		var text strings.Builder
		res, err := m.Stream(ctx, req, func(s host.Step) error {
			toks = append(toks, s.Token)
			text.WriteString(s.Text)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(toks, want.Tokens) || !equalInts(res.Tokens, want.Tokens) || text.String() != want.Text || res.Text != want.Text {
			t.Errorf("%v: stream %v %q, batch %v %q", mode, toks, text.String(), want.Tokens, want.Text)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestQuantized runs Q8_0 and Q4_0 weights: the host-kernel engine imports
// the quantized products too, so its logits are native's bits; the pure
// engine's agree closely.
func TestQuantized(t *testing.T) {
	ctx := context.Background()
	gg := readShared(t, "models/stories260K.gguf")
	for _, dt := range []string{"q8_0", "q4_0"} {
		var want []float32
		for _, mode := range modes {
			m, err := engine(t, mode).Load(ctx, gg, host.LoadOptions{DType: dt})
			if err != nil {
				t.Fatal(err)
			}
			toks, err := m.Tokenize(ctx, "Once upon a time, there was a little dog named Max. He liked to run in the park.", true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Logits(ctx, toks)
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
			if mode == host.Native {
				want = got
				continue
			}
			var maxAbs float64
			same := 0
			for i, v := range got {
				if math.Float32bits(v) == math.Float32bits(want[i]) {
					same++
				}
				maxAbs = math.Max(maxAbs, math.Abs(float64(v-want[i])))
			}
			t.Logf("%s on %v: %d/%d logits bit-identical, max |Δ| %.3g", dt, mode, same, len(got), maxAbs)
			if mode == host.HostKernels && runtime.GOARCH == "amd64" && same != len(got) {
				t.Errorf("%s on %v: %d logits differ from native's bits", dt, mode, len(got)-same)
			}
			if maxAbs > 1e-3 {
				t.Errorf("%s on %v: logits differ by up to %g", dt, mode, maxAbs)
			}
		}
	}
}
