package app

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// Progress reports how far a stage of a long operation is (loss 0 when
// it has none): prune's, for every long operation.
type Progress = prune.Progress

// FinetuneRequest is `shear finetune`: LoRA (or, with Full, every
// weight) trained on Data, written into the directory Output.
type FinetuneRequest struct {
	Data         DataFiles    `json:"data"`
	Full         bool         `json:"full,omitempty"`
	LoRA         lora.Config  `json:"lora"`
	Batch        int          `json:"batch"`
	Ctx          int          `json:"ctx"`
	Seed         uint64       `json:"seed"`     // adapter init, dropout and the dev split
	DevFrac      float64      `json:"dev_frac"` // fraction of the data held out for the dev loss
	Loop         train.Config `json:"loop"`     // its Checkpoint is always Output/checkpoint.bin
	Output       string       `json:"output"`
	AdapterDType string       `json:"adapter_dtype"` // f16 or f32
	Source       string       `json:"source,omitempty"`
	// Storage is model.gguf's matrix storage (f32, f16, q8_0, q4_0); by
	// default that of the file the model came from.
	Storage string `json:"storage,omitempty"`
}

// Default is `shear finetune`'s request without data or output: the
// batch, rate and seed of prune.DefaultOptions, 100 steps with a 10-step
// warm-up and a cosine decay to a tenth of the rate, 10% of the data held
// out (at most 512 sequences) for the dev loss, an f16 adapter.
func (FinetuneRequest) Default() FinetuneRequest {
	o := prune.DefaultOptions().Optim
	const steps = 100
	return FinetuneRequest{LoRA: lora.DefaultConfig(), Batch: o.Batch, Ctx: o.Ctx, Seed: o.Seed, DevFrac: 0.1,
		Loop: train.Config{Steps: steps, Accum: 1, Sched: train.Schedule{LR: o.LR, MinLR: o.LR / 10, Warmup: 10}, ClipNorm: o.Clip,
			DevMax: 512, Seed: o.Seed, Checkpointing: train.Checkpointing{CheckpointEvery: steps / 10}},
		AdapterDType: "f16"}
}

// FinetuneResult is what `shear finetune` reports.
type FinetuneResult struct {
	train.Result
	TrainSequences int    `json:"train_sequences"`
	DevSequences   int    `json:"dev_sequences"`
	Output         string `json:"output"`
	Model          string `json:"model"`             // the merged GGUF
	Adapter        string `json:"adapter,omitempty"` // the PEFT adapter directory (LoRA only)
}

// Checkpoint is the checkpoint a finetune run writes (and resumes).
func (r FinetuneRequest) Checkpoint() string { return filepath.Join(r.Output, "checkpoint.bin") }

// Validate checks what can be checked before the model is loaded.
func (r FinetuneRequest) Validate() error {
	if r.Output == "" {
		return badRequest("no output directory: pass -o OUTDIR")
	}
	if r.AdapterDType != "f16" && r.AdapterDType != "f32" {
		return badRequest("--adapter-dtype %q must be f16 or f32", r.AdapterDType)
	}
	if _, err := r.storage(tensor.F16); err != nil {
		return err
	}
	return r.Data.Need()
}

// storage is the storage of the written model: Storage, or source's.
func (r FinetuneRequest) storage(source tensor.DType) (tensor.DType, error) {
	if r.Storage == "" {
		return source, nil
	}
	dt, err := tensor.ParseDType(r.Storage)
	if err != nil {
		return 0, badRequest("--dtype: %v", err)
	}
	return dt, nil
}

// Finetune trains m (loaded as f32 for Full) and writes the adapter, the
// merged model and loss.jsonl into req.Output.
func Finetune(ctx context.Context, m *model.Model, req FinetuneRequest, progress Progress) (FinetuneResult, error) {
	res := FinetuneResult{Output: req.Output, Model: filepath.Join(req.Output, "model.gguf")}
	if err := req.Validate(); err != nil {
		return res, err
	}
	outType, _ := req.storage(m.OutputStorage())
	all, err := req.Data.Load(m, req.Ctx)
	if err != nil {
		return res, err
	}
	trainEx, devEx := train.Split(all, req.DevFrac, req.Seed)
	if len(trainEx) == 0 {
		return res, errors.New("the data leaves no training sequence after the dev split")
	}
	res.TrainSequences, res.DevSequences = len(trainEx), len(devEx)
	if err := os.MkdirAll(req.Output, 0o755); err != nil {
		return res, err
	}
	tr, err := train.New(m, train.Options{Full: req.Full, LoRA: req.LoRA, Batch: req.Batch, Ctx: req.Ctx, Seed: req.Seed})
	if err != nil {
		return res, err
	}
	loop := req.Loop
	loop.Checkpoint = req.Checkpoint()
	res.Result, err = train.Run(ctx, tr, trainEx, devEx, loop, func(s train.StepInfo) { progress("finetune", s.Step, loop.Steps, s.Loss) })
	if err != nil {
		return res, err
	}
	if err := writeLossLog(filepath.Join(req.Output, "loss.jsonl"), res.Log); err != nil {
		return res, err
	}
	if tr.Adapter != nil {
		res.Adapter = filepath.Join(req.Output, "adapter")
		dt := map[string]string{"f16": "F16", "f32": "F32"}[req.AdapterDType]
		if err := hf.SaveAdapter(tr.Adapter, m, res.Adapter, dt, req.Source); err != nil {
			return res, err
		}
		if err := tr.Adapter.Merge(m); err != nil {
			return res, err
		}
	}
	// Trained in whatever storage it was held in, written in the source's.
	if err := m.Convert(outType); err != nil {
		return res, err
	}
	if err := m.Save(res.Model); err != nil {
		return res, err
	}
	os.Remove(req.Checkpoint())
	return res, nil
}

// writeLossLog writes one JSON line per step.
func writeLossLog(path string, log []train.StepInfo) error {
	var b strings.Builder
	for _, s := range log {
		js, _ := json.Marshal(s)
		b.Write(js)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
