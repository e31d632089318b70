package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/wasm/internal/abi"
)

// The requests and results are internal/app's, shared with the guest
// (JSON on the wire, docs/WASM.md); each has a Default where defaults
// make sense. Their fields:

// LoadOptions: DType ("dtype": f32, f16 (default), q8_0 or q4_0).
type LoadOptions = app.LoadOptions

// ModelInfo: Arch, Params, Vocab, Dim, Layers, CtxLen, BOS, EOS, DType.
type ModelInfo = app.ModelInfo

// GenerateRequest asks for a generation from BOS and the prompt's
// tokens: Prompt ("prompt"), N ("n", new tokens, ≥ 1), Ctx ("ctx",
// 0: prompt + n; at most the model's context), IgnoreEOS ("ignore_eos"),
// Temperature ("temperature", 0: greedy), TopK ("top_k", 0: all), TopP
// ("top_p", 0 or 1: no limit), Seed ("seed"). GenerateRequest{}.Default()
// is 128 tokens, greedy (the CLI samples at temperature 0.8 by default).
type GenerateRequest = app.GenerateRequest

// GenerateResult: Tokens, Text, PromptTokens, Seconds (decode time).
type GenerateResult = app.GenerateResult

// Step is one streamed token: Token and the Text it adds.
type Step = app.Step

// PerplexityRequest: Text ("text"), Ctx ("ctx", chunks of ctx−1 tokens
// after BOS, default 256, at most the model's context), Chunks ("chunks",
// 0: all). The result is an eval.PPLResult.
type PerplexityRequest = app.PerplexityRequest

// ScoreRequest: Items ("items", eval.MCItem: context, choices, gold) and
// Ctx ("ctx", default 512).
type ScoreRequest = app.ScoreRequest

// ScoreResult: eval.MCResult (N, Acc, AccNorm) and Scores, the summed
// log-probability of every choice of every item.
type ScoreResult = app.ScoreResult

// PruneRequest: Options ("options", a prune.Options without checkpoints;
// PruneRequest{}.Default() starts from prune.DefaultOptions()), training
// and calibration data as examples (Train, Calib) and/or texts packed into
// sequences of Options.Ctx tokens (TrainTexts, CalibTexts), and Recover.
type PruneRequest = app.PruneRequest

// RecoverRequest is plain LoRA recovery after pruning: LoRA, Batch, Ctx,
// Seed, DevFrac and the loop's train.Config (without checkpoints).
type RecoverRequest = app.RecoverRequest

// PruneResult: the prune.Report and, after recovery, its train.Result.
type PruneResult = app.PruneResult

// Model is a model loaded into an Engine. Like its engine it is safe for
// concurrent use, its calls serialized with every other call of the
// engine.
//
// The model keeps a reference to its GGUF bytes (which it does not
// modify): when the engine has to replace its instance (after a memory
// limit, a deadline cut short, or a trap), the model is loaded again into
// the new instance on its next call.
type Model struct {
	e      *Engine
	gguf   []byte
	opts   LoadOptions
	info   ModelInfo
	handle int32
	gen    uint64 // the instance the handle belongs to
	native *model.Model
}

// Load parses GGUF bytes and binds a model (stored as opts.DType, f16 by
// default).
func (e *Engine) Load(ctx context.Context, ggufBytes []byte, opts LoadOptions) (*Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := &Model{e: e, gguf: ggufBytes, opts: opts}
	if e.opts.Mode == Native {
		nm, err := loadNative(ggufBytes, opts)
		if err != nil {
			return nil, err
		}
		m.native, m.info = nm, app.Info(nm)
		return m, nil
	}
	if _, err := m.bind(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Bind binds a model the caller has already loaded to a Native engine
// (no GGUF bytes are kept: a Native engine never reloads), so code that
// loads models itself, as the CLI does, runs the same operations as every
// other engine. The model must not be used elsewhere while bound.
func (e *Engine) Bind(nm *model.Model) (*Model, error) {
	if e.opts.Mode != Native {
		return nil, errors.New("wasm/host: Bind needs a Native engine (load GGUF bytes into a wasm engine)")
	}
	return &Model{e: e, native: nm, info: app.Info(nm)}, nil
}

func loadNative(b []byte, opts LoadOptions) (*model.Model, error) {
	lo, err := app.ParseLoad(opts)
	if err != nil {
		return nil, err
	}
	f, err := gguf.Parse(b)
	if err != nil {
		return nil, err
	}
	return model.FromGGUF(f, lo)
}

// bind returns the current instance with the model loaded into it.
func (m *Model) bind(ctx context.Context) (*instance, error) {
	e := m.e
	if m.gen == ^uint64(0) {
		return nil, errors.New("wasm/host: the model is closed")
	}
	inst, err := e.instance(ctx)
	if err != nil {
		return nil, err
	}
	if m.gen == inst.gen {
		return inst, nil
	}
	h, info, err := e.loadInto(ctx, inst, m.gguf, m.opts)
	if err != nil {
		return nil, err
	}
	m.handle, m.gen, m.info = h, inst.gen, info
	return inst, nil
}

// loadInto copies GGUF bytes into the instance and loads them.
func (e *Engine) loadInto(ctx context.Context, inst *instance, b []byte, opts LoadOptions) (int32, ModelInfo, error) {
	var info ModelInfo
	js, _ := json.Marshal(opts)
	o, err := e.put(ctx, inst, js)
	if err != nil {
		return 0, info, err
	}
	defer e.free(ctx, inst, o)
	if len(b) == 0 {
		return 0, info, &Error{Op: "shear_load_model", Code: CodeModel, Msg: "no GGUF bytes"}
	}
	p, err := e.put(ctx, inst, b)
	if err != nil {
		return 0, info, err
	}
	defer e.free(ctx, inst, p)
	h, err := e.call(ctx, inst, "shear_load_model", uint64(p), uint64(len(b)), uint64(o), uint64(len(js)))
	if err != nil {
		return 0, info, err
	}
	res, err := e.result(ctx, inst)
	if err == nil {
		err = json.Unmarshal(res, &info)
	}
	return h, info, err
}

// Info describes the model.
func (m *Model) Info() ModelInfo { return m.info }

// Close frees the model in the guest.
func (m *Model) Close() error {
	m.e.mu.Lock()
	defer m.e.mu.Unlock()
	if m.native == nil && m.e.inst != nil && m.e.inst.gen == m.gen {
		_, err := m.e.call(context.Background(), m.e.inst, "shear_free_model", uint64(uint32(m.handle)))
		if err != nil {
			return err
		}
	}
	m.gen, m.native = ^uint64(0), nil
	return nil
}

// poll is the native mode's Poll: progress, and the context.
func (e *Engine) poll(ctx context.Context) app.Poll {
	return func(stage string, done, total int, loss float64) bool {
		if stage != "" && e.opts.Progress != nil {
			e.opts.Progress(stage, done, total, loss)
		}
		return ctx.Err() != nil
	}
}

// nativeErr maps an interruption to the context's error.
func nativeErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, app.ErrInterrupted) && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	return err
}

// do runs an export that takes (model, request JSON).
func (m *Model) do(ctx context.Context, name string, req, out any) error {
	m.e.mu.Lock()
	defer m.e.mu.Unlock()
	inst, err := m.bind(ctx)
	if err != nil {
		return err
	}
	_, err = m.e.request(ctx, inst, name, m.handle, req, out)
	return err
}

func (m *Model) checkOpen() error {
	if m.gen == ^uint64(0) {
		return errors.New("wasm/host: the model is closed")
	}
	return nil
}

// Tokenize encodes text (with BOS first if bos).
func (m *Model) Tokenize(ctx context.Context, text string, bos bool) ([]int, error) {
	req := app.TokenizeRequest{Text: text, BOS: bos}
	if m.native != nil {
		return app.Tokenize(m.native, req).Tokens, nil
	}
	if err := m.checkOpen(); err != nil {
		return nil, err
	}
	var res app.TokenizeResult
	err := m.do(ctx, "shear_tokenize", req, &res)
	return res.Tokens, err
}

// Logits runs tokens from an empty cache and returns the logits of every
// position (len(tokens) rows of Info().Vocab values).
func (m *Model) Logits(ctx context.Context, tokens []int) ([]float32, error) {
	req := app.LogitsRequest{Tokens: tokens}
	if m.native != nil {
		return app.Logits(m.native, req)
	}
	if err := m.checkOpen(); err != nil {
		return nil, err
	}
	e := m.e
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, err := m.bind(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := e.request(ctx, inst, "shear_logits", m.handle, req, nil); err != nil {
		return nil, err
	}
	b, err := e.result(ctx, inst)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Generate runs a whole generation, as `shear generate` does.
func (m *Model) Generate(ctx context.Context, req GenerateRequest) (GenerateResult, error) {
	if m.native != nil {
		res, err := app.Generate(m.native, req, m.e.poll(ctx))
		return res, nativeErr(ctx, "generate", err)
	}
	if err := m.checkOpen(); err != nil {
		return GenerateResult{}, err
	}
	var res GenerateResult
	err := m.do(ctx, "shear_generate", req, &res)
	return res, err
}

// Stream generates token by token (the step API), calling fn with every
// token and the text it adds; an error from fn stops the generation.
func (m *Model) Stream(ctx context.Context, req GenerateRequest, fn func(Step) error) (GenerateResult, error) {
	if m.native != nil {
		g, err := app.NewGenerator(m.native, req)
		if err != nil {
			return GenerateResult{}, err
		}
		for {
			if ctx.Err() != nil {
				return g.Result(), ctx.Err()
			}
			tok, piece, done, err := g.Next()
			if err != nil || done {
				return g.Result(), err
			}
			if err := fn(Step{Token: tok, Text: piece}); err != nil {
				return g.Result(), err
			}
		}
	}
	if err := m.checkOpen(); err != nil {
		return GenerateResult{}, err
	}
	e := m.e
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, err := m.bind(ctx)
	if err != nil {
		return GenerateResult{}, err
	}
	s, err := e.request(ctx, inst, "shear_generate_start", m.handle, req, nil)
	if err != nil {
		return GenerateResult{}, err
	}
	defer func() {
		if e.inst == inst {
			e.call(context.Background(), inst, "shear_generate_end", uint64(uint32(s)))
		}
	}()
	for {
		if ctx.Err() != nil {
			return GenerateResult{}, ctx.Err()
		}
		status, err := e.call(ctx, inst, "shear_generate_step", uint64(uint32(s)))
		if err != nil {
			return GenerateResult{}, err
		}
		b, err := e.result(ctx, inst)
		if err != nil {
			return GenerateResult{}, err
		}
		if Code(status) == abi.StepDone {
			var res GenerateResult
			return res, json.Unmarshal(b, &res)
		}
		var st Step
		if err := json.Unmarshal(b, &st); err != nil {
			return GenerateResult{}, err
		}
		if err := fn(st); err != nil {
			return GenerateResult{}, err
		}
	}
}

// Perplexity scores a text by llama.cpp's perplexity protocol
// (docs/EVALUATION.md): chunks of Ctx−1 tokens, each run after BOS.
func (m *Model) Perplexity(ctx context.Context, req PerplexityRequest) (eval.PPLResult, error) {
	if m.native != nil {
		res, err := app.Perplexity(m.native, req, m.e.poll(ctx))
		return res, nativeErr(ctx, "perplexity", err)
	}
	if err := m.checkOpen(); err != nil {
		return eval.PPLResult{}, err
	}
	var res eval.PPLResult
	err := m.do(ctx, "shear_perplexity", req, &res)
	return res, err
}

// Score runs multiple choice (acc, acc_norm and every choice's score).
func (m *Model) Score(ctx context.Context, req ScoreRequest) (ScoreResult, error) {
	if m.native != nil {
		res, err := app.Score(m.native, req, m.e.poll(ctx))
		return res, nativeErr(ctx, "score", err)
	}
	if err := m.checkOpen(); err != nil {
		return ScoreResult{}, err
	}
	var res ScoreResult
	err := m.do(ctx, "shear_mc_scores", req, &res)
	return res, err
}

// Prune loads a GGUF model with float32 weights, prunes it as `shear
// prune` does (with recovery if req.Recover is set) and returns the
// compressed model's GGUF bytes and the report.
func (e *Engine) Prune(ctx context.Context, ggufBytes []byte, req PruneRequest) ([]byte, PruneResult, error) {
	if e.opts.Mode == Native {
		// a copy: a loaded model views its bytes, and pruning writes into it
		m, err := loadNative(bytes.Clone(ggufBytes), LoadOptions{DType: tensor.F32.String()})
		if err != nil {
			return nil, PruneResult{}, err
		}
		req, err := req.InMemory()
		if err != nil {
			return nil, PruneResult{}, err
		}
		pctx, progress := app.PollContext(e.poll(ctx))
		cm, res, err := app.Prune(pctx, m, req, progress)
		if err != nil {
			return nil, res, nativeErr(ctx, "prune", err)
		}
		b, err := app.Save(cm)
		return b, res, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, err := e.instance(ctx)
	if err != nil {
		return nil, PruneResult{}, err
	}
	h, _, err := e.loadInto(ctx, inst, ggufBytes, LoadOptions{DType: tensor.F32.String()})
	if err != nil {
		return nil, PruneResult{}, err
	}
	freeModel := func(h int32) {
		if e.inst == inst {
			e.call(context.Background(), inst, "shear_free_model", uint64(uint32(h)))
		}
	}
	defer freeModel(h)
	var res PruneResult
	h2, err := e.request(ctx, inst, "shear_prune", h, req, &res)
	if err != nil {
		return nil, res, err
	}
	defer freeModel(h2)
	if _, err := e.call(ctx, inst, "shear_save_model", uint64(uint32(h2))); err != nil {
		return nil, res, err
	}
	b, err := e.result(ctx, inst)
	return b, res, err
}
