package app

import (
	"github.com/shear-ai/shear/internal/protocol"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/train"
)

// LoadOptions is the options JSON of shear_load_model.
type LoadOptions struct {
	DType string `json:"dtype,omitempty"` // f32, f16 (default), q8_0 or q4_0
}

// ModelInfo is the result of shear_load_model and shear_model_info.
type ModelInfo struct {
	Arch   string `json:"arch"`
	Params int    `json:"params"`
	Vocab  int    `json:"vocab"`
	Dim    int    `json:"dim"`
	Layers int    `json:"layers"`
	CtxLen int    `json:"ctx_len"`
	BOS    int    `json:"bos"`
	EOS    int    `json:"eos"`
	DType  string `json:"dtype"`
}

// TokenizeRequest is the request of shear_tokenize.
type TokenizeRequest struct {
	Text         string `json:"text"`
	BOS          bool   `json:"bos,omitempty"`           // prepend BOS (when the vocabulary has one)
	ParseSpecial bool   `json:"parse_special,omitempty"` // special-token strings in the text become their tokens
}

// TokenizeResult is the result of shear_tokenize.
type TokenizeResult struct {
	Tokens []int `json:"tokens"`
}

// LogitsRequest is the request of shear_logits: the tokens run from an
// empty cache; the result is len(Tokens) rows of Vocab float32 logits,
// little-endian (binary, not JSON).
type LogitsRequest struct {
	Tokens []int `json:"tokens"`
}

// GenerateRequest is the request of shear_generate and
// shear_generate_start. It mirrors `shear generate`: the input is the
// prompt's tokens with the special tokens the model adds (BOS first for
// most, none for Qwen; BOS alone for an empty prompt; an empty prompt is
// refused when the model adds no BOS, as llama.cpp does); generation stops
// at EOS unless IgnoreEOS, or after N tokens.
type GenerateRequest struct {
	Prompt      string  `json:"prompt,omitempty"`
	N           int     `json:"n"`
	Ctx         int     `json:"ctx,omitempty"` // 0: prompt + n
	IgnoreEOS   bool    `json:"ignore_eos,omitempty"`
	Temperature float32 `json:"temperature,omitempty"` // 0: greedy
	TopK        int     `json:"top_k,omitempty"`
	TopP        float32 `json:"top_p,omitempty"` // 0 or 1: no limit
	Seed        uint64  `json:"seed,omitempty"`
}

// Default is 128 tokens, greedy: the API's default (the CLI samples as
// llama.cpp does; see cmd/shear's defaultGenerate).
func (GenerateRequest) Default() GenerateRequest { return GenerateRequest{N: 128, TopP: 1} }

// GenerateResult is the result of shear_generate (and of the last step).
type GenerateResult struct {
	Tokens       []int   `json:"tokens"`
	Text         string  `json:"text"`
	PromptTokens int     `json:"prompt_tokens"`
	Seconds      float64 `json:"seconds"` // decode time, after the prompt
}

// Step is the result of shear_generate_step when it produced a token.
type Step struct {
	Token int    `json:"token"`
	Text  string `json:"text"` // the text this token adds
}

// PerplexityRequest is the request of shear_perplexity (docs/EVALUATION.md
// protocol); the result is an eval.PPLResult.
type PerplexityRequest struct {
	Text   string `json:"text"`
	Ctx    int    `json:"ctx,omitempty"`    // default 256
	Chunks int    `json:"chunks,omitempty"` // 0: all
}

// Default is `shear ppl`'s request: chunks of 256 tokens, all of them.
func (PerplexityRequest) Default() PerplexityRequest { return PerplexityRequest{Ctx: 256} }

// ScoreRequest is the request of shear_mc_scores: lm-eval-style multiple
// choice over Items (docs/EVALUATION.md).
type ScoreRequest struct {
	Items []eval.MCItem `json:"items"`
	Ctx   int           `json:"ctx,omitempty"` // default 512, at most the model's context length
}

// Default is `shear eval --mc`'s request.
func (ScoreRequest) Default() ScoreRequest { return ScoreRequest{Ctx: protocol.MCCtx} }

// ScoreResult is the result of shear_mc_scores: acc and acc_norm, and the
// summed log-probability of every choice of every item.
type ScoreResult = eval.MCScores

// PruneRequest is the request of shear_prune. Training and calibration
// data are given as examples (Train, Calib) and/or as texts packed into
// sequences of Options.Ctx tokens (TrainTexts, CalibTexts). Checkpoints
// are not available in the guest: Options.Checkpoint must be empty.
type PruneRequest struct {
	Options    prune.Options   `json:"options"`
	Train      []train.Example `json:"train,omitempty"`
	Calib      []train.Example `json:"calib,omitempty"`
	TrainTexts []string        `json:"train_texts,omitempty"`
	CalibTexts []string        `json:"calib_texts,omitempty"`
	// Recover, when set, fine-tunes a fresh LoRA on the pruned model and
	// merges it, as `shear prune --recover-steps` does.
	Recover *RecoverRequest `json:"recover,omitempty"`
}

// Default is `shear prune`'s options without checkpoints (which the
// guest has no file system for) and no recovery.
func (PruneRequest) Default() PruneRequest {
	o := prune.DefaultOptions()
	o.CheckpointEvery = 0
	return PruneRequest{Options: o}
}

// RecoverRequest configures plain LoRA recovery after pruning: the
// training data of the PruneRequest is split by DevFrac and Seed, and the
// trainer is seeded with Seed+1.
type RecoverRequest struct {
	LoRA    lora.Config  `json:"lora"`
	Batch   int          `json:"batch"`
	Ctx     int          `json:"ctx"`
	Seed    uint64       `json:"seed"`
	DevFrac float64      `json:"dev_frac"`
	Config  train.Config `json:"config"` // without checkpoints or Source
}

// PruneResult is the result of shear_prune (which also returns the handle
// of the compressed model).
type PruneResult struct {
	Report   *prune.Report `json:"report"`
	Recovery *train.Result `json:"recovery,omitempty"`
}
