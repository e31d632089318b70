package train

import (
	"context"
	"github.com/shear-ai/shear/internal/testshared"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

func sharedPath(t testing.TB, rel string) string { return testshared.Path(t, rel) }

func stories(t testing.TB, dt tensor.DType) *model.Model {
	m, err := model.Load(sharedPath(t, "models/stories260K.gguf"), model.LoadOptions{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdamW compares three steps with a float64 transcription of the
// AdamW update rule.
func TestAdamW(t *testing.T) {
	w := []float32{0.5, -1, 2}
	g := []float32{0.1, -0.2, 0.3}
	ps := []Param{{Name: "w", W: w, G: g, Decay: true}}
	o := NewAdamW(ps, 0.1)
	ref := []float64{0.5, -1, 2}
	m, v := make([]float64, 3), make([]float64, 3)
	for step := 1; step <= 3; step++ {
		lr := 0.01 * float64(step)
		for i := range g {
			g[i] = float32(0.1 * float64(i+1) * float64(step))
		}
		o.Step(ps, lr)
		for i := range ref {
			gi := float64(g[i])
			m[i] = 0.9*m[i] + 0.1*gi
			v[i] = 0.999*v[i] + 0.001*gi*gi
			mh := m[i] / (1 - math.Pow(0.9, float64(step)))
			vh := v[i] / (1 - math.Pow(0.999, float64(step)))
			ref[i] -= lr * (mh/(math.Sqrt(vh)+1e-8) + 0.1*ref[i])
		}
	}
	for i := range w {
		if math.Abs(float64(w[i])-ref[i]) > 1e-5 {
			t.Errorf("w[%d] = %v, reference %v", i, w[i], ref[i])
		}
	}
}

func TestClipAndSchedule(t *testing.T) {
	ps := []Param{{W: make([]float32, 2), G: []float32{3, 4}}}
	if n := ClipGradNorm(ps, 1); n != 5 || math.Abs(float64(ps[0].G[0])-0.6) > 1e-6 {
		t.Errorf("clip: norm %v, g %v", n, ps[0].G)
	}
	s := Schedule{LR: 1, MinLR: 0.1, Warmup: 4, Total: 14}
	for step, want := range map[int]float64{0: 0.25, 3: 1, 4: 1, 9: 0.55, 14: 0.1} {
		if got := s.At(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("lr at %d = %v, want %v", step, got, want)
		}
	}
}

// TestMergeEqualsAdapter: the forward with unmerged adapters equals the
// forward of the merged model, and Unmerge restores the base.
func TestMergeEqualsAdapter(t *testing.T) {
	m := stories(t, tensor.F32)
	cfg := lora.DefaultConfig()
	cfg.Dropout = 0
	tr, err := New(m, Options{LoRA: cfg, Batch: 1, Ctx: 16, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, mods := range tr.Adapter.Modules {
		for _, mod := range mods {
			for i := range mod.B {
				mod.B[i] = float32(math.Sin(float64(i))) * 0.05
			}
		}
	}
	tokens := []int{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}
	withAdapter, err := tr.Logits(tokens)
	if err != nil {
		t.Fatal(err)
	}
	base := slices.Clone(m.Blocks[2].Wup.F32)
	if err := tr.Adapter.Merge(m); err != nil {
		t.Fatal(err)
	}
	merged, err := m.NewState(16, 16).Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range merged {
		worst = math.Max(worst, math.Abs(float64(merged[i]-withAdapter[i])))
	}
	if worst > 1e-4 {
		t.Errorf("merged vs adapter logits: max |Δ| = %g", worst)
	}
	if err := tr.Adapter.Unmerge(m); err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Blocks[2].Wup.F32 {
		if math.Abs(float64(v-base[i])) > 1e-6 {
			t.Fatalf("unmerge: W[%d] = %v, base %v", i, v, base[i])
		}
	}
}

func instructData(t *testing.T, m *model.Model, ctx int) (trainEx, devEx []Example) {
	ex, err := LoadInstructions(m.Tok, sharedPath(t, "data/tinystories-instruct-dev.jsonl"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	return Split(ex, 0.1, 1)
}

// TestLoRAFinetuneLowersDevLoss: LoRA on stories260K with instruction
// data lowers the loss on a held-out 10%.
func TestLoRAFinetuneLowersDevLoss(t *testing.T) {
	m := stories(t, tensor.F16)
	trainEx, devEx := instructData(t, m, 128)
	tr, err := New(m, Options{LoRA: lora.DefaultConfig(), Batch: 8, Ctx: 128, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), tr, trainEx, devEx, Config{Steps: 30, Sched: Schedule{LR: 3e-3, MinLR: 3e-4, Warmup: 3},
		ClipNorm: 1, DevMax: 200, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dev loss %.4f → %.4f (%d train / %d dev examples), %.0f tokens/s", res.DevLossBefore, res.DevLossAfter, len(trainEx), len(devEx), res.TokensPerS)
	if !(res.DevLossAfter < res.DevLossBefore-0.02) {
		t.Errorf("dev loss did not drop: %.4f → %.4f", res.DevLossBefore, res.DevLossAfter)
	}
}

// TestResumeIsBitIdentical: a run cancelled mid-way and resumed from its
// checkpoint ends with exactly the weights of an uninterrupted run — also
// without a dev set, whose NaN dev loss has no JSON form (checkpoints of
// such runs failed to write).
func TestResumeIsBitIdentical(t *testing.T) {
	for _, c := range []struct{ full, noDev bool }{{false, false}, {true, false}, {false, true}} {
		full := c.full
		run := func(stopAt int, ckpt string) []Param {
			m := stories(t, tensor.F32)
			trainEx, devEx := instructData(t, m, 64)
			evalEvery := 0
			if c.noDev {
				devEx, evalEvery = nil, 2
			}
			opt := Options{Full: full, LoRA: lora.DefaultConfig(), Batch: 2, Ctx: 64, Seed: 9}
			tr, err := New(m, opt)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Steps: 8, Accum: 2, Sched: Schedule{LR: 1e-3, MinLR: 1e-4, Warmup: 2}, ClipNorm: 1,
				DevMax: 8, EvalEvery: evalEvery, Seed: 2, Checkpointing: Checkpointing{Checkpoint: ckpt, CheckpointEvery: 100, Resume: true}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := Run(ctx, tr, trainEx, devEx, cfg, func(s StepInfo) {
				if s.Step == stopAt {
					cancel()
				}
			})
			if stopAt > 0 && err == nil {
				t.Fatal("cancelled run did not stop")
			}
			if stopAt == 0 && err != nil {
				t.Fatal(err)
			}
			if stopAt == 0 && c.noDev != math.IsNaN(res.DevLossBefore) {
				t.Errorf("no dev set %v, dev loss before %v", c.noDev, res.DevLossBefore)
			}
			return tr.Params()
		}
		dir := t.TempDir()
		straight := run(0, "")
		run(3, filepath.Join(dir, "ckpt"))
		resumed := run(0, filepath.Join(dir, "ckpt"))
		for k := range straight {
			for i := range straight[k].W {
				if math.Float32bits(straight[k].W[i]) != math.Float32bits(resumed[k].W[i]) {
					t.Fatalf("%+v: %s[%d] = %v after resume, %v uninterrupted", c, straight[k].Name, i, resumed[k].W[i], straight[k].W[i])
				}
			}
		}
	}
}

func TestCheckpointMismatch(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ckpt")
	os.WriteFile(ck, []byte("garbage"), 0o644)
	m := stories(t, tensor.F32)
	trainEx, _ := instructData(t, m, 64)
	tr, _ := New(m, Options{LoRA: lora.DefaultConfig(), Batch: 1, Ctx: 64})
	_, err := Run(context.Background(), tr, trainEx, nil, Config{Steps: 1, Checkpointing: Checkpointing{Checkpoint: ck, Resume: true}}, nil)
	if err == nil {
		t.Fatal("a corrupt checkpoint was accepted")
	}
}

func TestInstructionMasking(t *testing.T) {
	m := stories(t, tensor.F32)
	in := Instruction{Instruction: "Continue the story.", Input: "Tom had a ball.", Output: "He threw it far."}
	ex, ok := InstructionExample(m.Tok, in, 256)
	if !ok {
		t.Fatal("example rejected")
	}
	resp := m.Tok.Encode(in.Prompt() + in.Output)
	var scored []int
	for _, tg := range ex.Targets {
		if tg >= 0 {
			scored = append(scored, tg)
		}
	}
	if scored[len(scored)-1] != m.Tok.EOS() {
		t.Error("EOS is not scored last")
	}
	got := m.Tok.Decode(scored[:len(scored)-1])
	if got != "He threw it far." && got != " He threw it far." {
		t.Errorf("scored tokens decode to %q (whole %d tokens)", got, len(resp))
	}
	if ex.Tokens[0] != m.Tok.BOS() {
		t.Error("sequence does not start with BOS")
	}
}

// TestEvaluateIsSequenceNLL: the trainer's dev loss and the inference
// mean loss are one sum (eval.AddNLL) over bit-identical logits, so on a
// model without a trained adapter (a fresh LoRA adds exactly zero) they
// agree to the last bit — for full sequences of a multiple of three
// tokens, where both forwards group the rows of a product alike (see
// TestForwardMatchesInference), and for examples shorter than the
// context, up to the grouping of their last rows.
func TestEvaluateIsSequenceNLL(t *testing.T) {
	m := stories(t, tensor.F32)
	text, err := os.ReadFile(sharedPath(t, "data/tinystories-dev.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const T = 18
	ex := PackText(m.Tok, string(text[:20000]), T)[:7]
	short := ex[6]
	short.Tokens, short.Targets = short.Tokens[:10], append(append([]int(nil), short.Targets[:9]...), -1)
	for _, c := range []struct {
		name  string
		ex    []Example
		exact bool
	}{{"full", ex[:6], true}, {"with a short one", append(append([]Example(nil), ex[:6]...), short), false}} {
		tr, err := New(m, Options{LoRA: lora.DefaultConfig(), Batch: 3, Ctx: T, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Evaluate(tr, c.ex)
		if err != nil {
			t.Fatal(err)
		}
		st := m.NewState(T, T)
		var sum float64
		var n int
		for _, e := range c.ex {
			var k int
			if sum, k, err = eval.SequenceNLL(st, e.Tokens, e.Targets, sum); err != nil {
				t.Fatal(err)
			}
			n += k
		}
		want := sum / float64(n)
		if c.exact && math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: Evaluate %v, mean SequenceNLL %v", c.name, got, want)
		}
		if d := math.Abs(got - want); d > 1e-6*want {
			t.Errorf("%s: Evaluate %v, mean SequenceNLL %v (|Δ| %g)", c.name, got, want, d)
		}
	}
}

// TestDataWithoutBOS: for a vocabulary that adds no BOS (Qwen), packed
// text is the chunk alone, shifted by one, and an instruction's first
// target follows its first token; with add_eos_token the text ends with
// EOS. With BOS, the layout is the one above (TestInstructionMasking).
func TestDataWithoutBOS(t *testing.T) {
	m := stories(t, tensor.F32)
	v := m.Tok.Vocab()
	v.AddBOS, v.AddEOS = false, true
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	const text = "Once upon a time there was a dog. The dog was big and liked to run in the park."
	ids := append(tok.Encode(text), tok.EOS())
	exs := PackText(tok, text, 8)
	if len(exs) == 0 {
		t.Fatal("no examples")
	}
	for i, ex := range exs {
		chunk := ids[i*8 : min((i+1)*8, len(ids))]
		if !slices.Equal(ex.Tokens, chunk[:len(chunk)-1]) || !slices.Equal(ex.Targets, chunk[1:]) {
			t.Fatalf("example %d: tokens %v targets %v, want the chunk %v shifted by one", i, ex.Tokens, ex.Targets, chunk)
		}
	}
	if last := exs[len(exs)-1].Targets; last[len(last)-1] != tok.EOS() {
		t.Errorf("the text does not end with EOS: %v", last)
	}
	withBOS := PackText(m.Tok, text, 8)
	if withBOS[0].Tokens[0] != m.Tok.BOS() || !slices.Equal(withBOS[0].Targets, m.Tok.Encode(text)[:8]) {
		t.Errorf("with BOS: %+v", withBOS[0])
	}

	in := Instruction{Instruction: "Continue the story.", Output: "He threw it far."}
	ex, ok := InstructionExample(tok, in, 256)
	if !ok {
		t.Fatal("example rejected")
	}
	whole := tok.Encode(in.Prompt() + in.Output)
	if !slices.Equal(ex.Tokens, whole) {
		t.Errorf("tokens %v, want the text's %v with no BOS", ex.Tokens, whole)
	}
	var scored []int
	for _, tg := range ex.Targets {
		if tg >= 0 {
			scored = append(scored, tg)
		}
	}
	if len(scored) < 2 || scored[len(scored)-1] != tok.EOS() || strings.TrimSpace(tok.Decode(scored[:len(scored)-1])) != in.Output {
		t.Errorf("scored %v (%q)", scored, tok.Decode(scored))
	}
}
