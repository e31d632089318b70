// Package app is Shear's application layer: every operation as a request
// and a result, written once over the runtime packages. The CLI's native
// engine, the WebAssembly guest (wasm/guest) and the host package's Native
// mode call the very same code, so the engines differ only in where the
// arithmetic runs. (Formerly wasm/internal/ops.)
//
// Goroutines: Info, Tokenize, Logits, Generate, Perplexity, Score and Save
// only read their model (each run makes its own model.State), so they may
// run at once on one Model; a Generator belongs to one goroutine. Prune
// modifies its model in place: nothing else may use it meanwhile.
package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
	"github.com/shear-ai/shear/runtime/train"
)

// Poll reports progress (stage "" when there is none to report) and says
// whether the operation should stop.
type Poll func(stage string, done, total int, loss float64) (stop bool)

// ErrInterrupted is returned when Poll asked an operation to stop.
var ErrInterrupted = errors.New("interrupted by the host")

// RequestError marks an invalid request (as opposed to a failed operation).
type RequestError struct{ Err error }

func (e RequestError) Error() string { return e.Err.Error() }
func (e RequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return RequestError{fmt.Errorf(format, args...)}
}

// Info describes a loaded model.
func Info(m *model.Model) ModelInfo {
	return ModelInfo{Arch: m.Arch, Params: m.Params(), Vocab: m.Vocab, Dim: m.Dim, Layers: m.Layers,
		CtxLen: m.CtxLen, BOS: m.Tok.BOS(), EOS: m.Tok.EOS(), DType: m.Embed.DType.String()}
}

// ParseLoad checks load options and returns how to load: the file's own
// storage for quantized tensors (f16 for float ones) unless a type is named.
func ParseLoad(o LoadOptions) (model.LoadOptions, error) {
	if o.DType == "" {
		return model.DefaultLoadOptions(), nil // a quantized file stays quantized
	}
	dt, err := tensor.ParseDType(o.DType)
	if err != nil {
		return model.LoadOptions{}, RequestError{err}
	}
	return model.LoadOptions{DType: dt}, nil
}

// Tokenize encodes text, with BOS first if asked.
func Tokenize(m *model.Model, req TokenizeRequest) TokenizeResult {
	ids := m.Tok.EncodeWith(req.Text, tokenizer.EncodeOptions{ParseSpecial: req.ParseSpecial})
	if req.BOS && m.Tok.BOS() >= 0 {
		ids = append([]int{m.Tok.BOS()}, ids...)
	}
	if ids == nil {
		ids = []int{}
	}
	return TokenizeResult{Tokens: ids}
}

// Logits runs tokens from an empty cache and returns every row's logits.
func Logits(m *model.Model, req LogitsRequest) ([]float32, error) {
	if len(req.Tokens) == 0 {
		return nil, badRequest("no tokens")
	}
	for _, t := range req.Tokens {
		if t < 0 || t >= m.Vocab {
			return nil, badRequest("token %d is outside the vocabulary (0..%d)", t, m.Vocab-1)
		}
	}
	st, err := m.NewBoundedState(len(req.Tokens), min(len(req.Tokens), 256), 0)
	if err != nil {
		return nil, RequestError{err}
	}
	out, err := st.Forward(req.Tokens, true)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), out...), nil
}

// Generator produces tokens one at a time, as `shear generate` does.
type Generator struct {
	m       *model.Model
	st      *model.State
	smp     *sample.Sampler
	req     GenerateRequest
	input   []int
	logits  []float32
	out     []int
	printed int
	quiet   bool // no text per token (batch generation)
	done    bool
	start   time.Time
	secs    float64
}

// NewGenerator validates req and runs the prompt. The prompt and the new
// tokens must fit the model's context (a longer cache would only be
// allocated to produce tokens the model was never trained to see).
func NewGenerator(m *model.Model, req GenerateRequest) (*Generator, error) {
	sp := sample.Params{Temperature: req.Temperature, TopK: req.TopK, TopP: req.TopP, Seed: req.Seed}
	if sp.TopP == 0 {
		sp.TopP = 1
	}
	err := valid.First(
		valid.Float("--temp", float64(sp.Temperature), valid.NonNegative),
		valid.Int("--top-k", sp.TopK, 0, math.MaxInt),
		valid.Float("--top-p", float64(sp.TopP), valid.Range{Lo: 0, Hi: 1, OpenLo: true}),
	)
	if err != nil {
		return nil, RequestError{err}
	}
	if err := valid.Int("--ctx", req.Ctx, 0, m.CtxLen); err != nil {
		return nil, RequestError{fmt.Errorf("%w (the model's context length)", err)}
	}
	input := m.Tok.EncodeWith(req.Prompt, tokenizer.EncodeOptions{AddSpecial: true})
	if len(input) == 0 {
		return nil, badRequest("the prompt is empty and the model starts its input with no BOS token (tokenizer.ggml.add_bos_token is false): give a prompt")
	}
	ctx := req.Ctx
	if ctx <= 0 {
		ctx = m.CtxLen
	}
	if len(input) > ctx-1 {
		return nil, badRequest("the prompt (%d tokens) leaves no room in --ctx %d", len(input), ctx)
	}
	if err := valid.Int("-n", req.N, 1, ctx-len(input)); err != nil {
		return nil, RequestError{fmt.Errorf("%w (the prompt has %d tokens; context %d, the model's context length %d)", err, len(input), ctx, m.CtxLen)}
	}
	if req.Ctx <= 0 {
		ctx = len(input) + req.N
	}
	st, err := m.NewBoundedState(ctx, 64, 0)
	if err != nil {
		return nil, RequestError{err}
	}
	g := &Generator{m: m, st: st, smp: sample.New(sp, m.Vocab), req: req, input: input}
	if g.logits, err = g.st.Forward(input, false); err != nil {
		return nil, err
	}
	g.start = time.Now()
	return g, nil
}

// Quiet skips decoding the text of every token (Next returns no piece);
// Result still has the whole text.
func (g *Generator) Quiet() { g.quiet = true }

// Next produces the next token and the text it adds, or reports done.
func (g *Generator) Next() (tok int, piece string, done bool, err error) {
	if g.done {
		return 0, "", true, nil
	}
	t := g.smp.Sample(g.logits)
	if t == g.m.Tok.EOS() && !g.req.IgnoreEOS {
		g.finish()
		return 0, "", true, nil
	}
	g.out = append(g.out, t)
	if !g.quiet {
		text := g.m.Tok.Decode(g.out)
		piece, g.printed = text[min(g.printed, len(text)):], len(text)
	}
	if len(g.out) == g.req.N {
		g.finish()
	} else if g.logits, err = g.st.Forward([]int{t}, false); err != nil {
		return 0, "", true, err
	}
	return t, piece, false, nil
}

func (g *Generator) finish() {
	g.done = true
	g.secs = time.Since(g.start).Seconds()
}

// Result is what has been generated so far.
func (g *Generator) Result() GenerateResult {
	out := g.out
	if out == nil {
		out = []int{}
	}
	secs := g.secs
	if !g.done {
		secs = time.Since(g.start).Seconds()
	}
	return GenerateResult{Tokens: out, Text: g.m.Tok.Decode(g.out), PromptTokens: len(g.input), Seconds: secs}
}

// Generate runs a whole generation, polling between tokens.
func Generate(m *model.Model, req GenerateRequest, poll Poll) (GenerateResult, error) {
	g, err := NewGenerator(m, req)
	if err != nil {
		return GenerateResult{}, err
	}
	g.Quiet()
	for i := 0; ; i++ {
		if poll("generate", i, req.N, 0) {
			return GenerateResult{}, ErrInterrupted
		}
		_, _, done, err := g.Next()
		if err != nil {
			return GenerateResult{}, err
		}
		if done {
			return g.Result(), nil
		}
	}
}

// stopped is the panic that carries an interruption out of a callback of
// the eval package.
type stopped struct{}

func catchStop(err *error) {
	if r := recover(); r != nil {
		if _, ok := r.(stopped); !ok {
			panic(r)
		}
		*err = ErrInterrupted
	}
}

// Perplexity runs eval.Perplexity on the text's tokens (docs/EVALUATION.md
// protocol), polling after every chunk.
func Perplexity(m *model.Model, req PerplexityRequest, poll Poll) (res eval.PPLResult, err error) {
	if req.Ctx == 0 {
		req.Ctx = 256
	}
	if err := valid.First(valid.Int("--ctx", req.Ctx, 2, m.CtxLen), valid.Int("--chunks", req.Chunks, 0, 1<<30)); err != nil {
		return res, RequestError{err}
	}
	defer catchStop(&err)
	if poll("perplexity", 0, 0, 0) {
		return res, ErrInterrupted
	}
	tokens := m.Tok.Encode(req.Text)
	return eval.Perplexity(m, tokens, req.Ctx, req.Chunks, func(done, total int) {
		if poll("perplexity", done, total, 0) {
			panic(stopped{})
		}
	})
}

// Score runs eval.MultipleChoice (every choice's score included) in a
// window of req.Ctx tokens, at most the model's context length, polling
// after every item.
func Score(m *model.Model, req ScoreRequest, poll Poll) (ScoreResult, error) {
	if req.Ctx == 0 {
		req.Ctx = ScoreRequest{}.Default().Ctx
	}
	if req.Ctx < 2 {
		return ScoreResult{}, badRequest("ctx %d must be ≥ 2", req.Ctx)
	}
	if len(req.Items) == 0 {
		return ScoreResult{}, badRequest("no items")
	}
	for n, it := range req.Items {
		if len(it.Choices) < 2 || it.Gold < 0 || it.Gold >= len(it.Choices) {
			return ScoreResult{}, badRequest("item %d: need ≥ 2 choices and gold in range (have %d choices, gold %d)", n, len(it.Choices), it.Gold)
		}
	}
	ctx, progress := PollContext(poll)
	res, err := eval.MultipleChoice(ctx, m, req.Items, req.Ctx, func(done, total int) { progress("multiple choice", done, total, 0) })
	return ScoreResult(res), err
}

// pollContext is a context whose Err asks the host: the pruning and
// training loops check ctx.Err() once per step.
type pollContext struct {
	context.Context
	poll Poll
}

func (c pollContext) Err() error {
	if c.poll("", 0, 0, 0) {
		return ErrInterrupted
	}
	return nil
}

// PollContext turns a host's Poll into the context and progress callback
// of the long operations (Prune).
func PollContext(poll Poll) (context.Context, Progress) {
	return pollContext{context.Background(), poll}, func(stage string, done, total int, loss float64) { poll(stage, done, total, loss) }
}

// InMemory is req for a run without a file system (the wasm guest): it
// refuses a pruning checkpoint and drops the recovery's.
func (req PruneRequest) InMemory() (PruneRequest, error) {
	if req.Options.Checkpoint != "" || req.Options.Resume {
		return req, badRequest("checkpoints are not available here: leave options.Checkpoint empty")
	}
	if r := req.Recover; r != nil {
		c := *r
		c.Config.Checkpoint, c.Config.Resume = "", false
		req.Recover = &c
	}
	return req, nil
}

// Prune runs prune.Prune on m (float32 weights; modified in place) and,
// if asked, plain LoRA recovery, as `shear prune` does; the CLI, the wasm
// guest and the host's Native mode all run this body. Checkpoints are
// written where req's options name them. It returns the compressed model.
func Prune(ctx context.Context, m *model.Model, req PruneRequest, progress Progress) (*model.Model, PruneResult, error) {
	opt := req.Options
	if err := opt.Validate(); err != nil {
		return nil, PruneResult{}, RequestError{err}
	}
	data := prune.Data{Train: req.Train, Calib: req.Calib}
	for _, t := range req.TrainTexts {
		data.Train = append(data.Train, train.PackText(m.Tok, t, max(opt.Ctx, 2))...)
	}
	for _, t := range req.CalibTexts {
		data.Calib = append(data.Calib, train.PackText(m.Tok, t, max(opt.Ctx, 2))...)
	}
	if err := checkExamples(m, data.Train); err != nil {
		return nil, PruneResult{}, err
	}
	if err := checkExamples(m, data.Calib); err != nil {
		return nil, PruneResult{}, err
	}
	cm, rep, err := prune.Prune(ctx, m, opt, data, progress)
	if err != nil {
		return nil, PruneResult{}, err
	}
	res := PruneResult{Report: rep}
	if r := req.Recover; r != nil {
		debug.FreeOSMemory() // pruning's buffers, before the recovery trainer allocates
		t0 := time.Now()
		cfg := r.Config
		cfg.Source = nil
		tr, err := train.New(cm, train.Options{LoRA: r.LoRA, Batch: r.Batch, Ctx: r.Ctx, Seed: r.Seed + 1})
		if err != nil {
			return nil, res, RequestError{err}
		}
		trainEx, devEx := train.Split(data.Train, r.DevFrac, r.Seed)
		out, err := train.Run(ctx, tr, trainEx, devEx, cfg, func(s train.StepInfo) { progress("recover", s.Step, cfg.Steps, s.Loss) })
		if err != nil {
			return nil, res, err
		}
		if err := tr.Adapter.Merge(cm); err != nil {
			return nil, res, err
		}
		res.Recovery = &out
		rep.Seconds["recover"] = time.Since(t0).Seconds()
	}
	return cm, res, nil
}

// checkExamples rejects token ids outside the vocabulary and mismatched
// targets before they reach the trainer.
func checkExamples(m *model.Model, ex []train.Example) error {
	for i, e := range ex {
		if len(e.Tokens) != len(e.Targets) {
			return badRequest("example %d: %d tokens but %d targets", i, len(e.Tokens), len(e.Targets))
		}
		for _, t := range e.Tokens {
			if t < 0 || t >= m.Vocab {
				return badRequest("example %d: token %d outside the vocabulary", i, t)
			}
		}
		for _, t := range e.Targets {
			if t >= m.Vocab {
				return badRequest("example %d: target %d outside the vocabulary", i, t)
			}
		}
	}
	return nil
}

// Save encodes m as GGUF bytes (what model.Save writes).
func Save(m *model.Model) ([]byte, error) { return m.Encode() }
