package main

import (
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"os"
	"path/filepath"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// dataset is one model and its data, cut by the protocol's one cut
// (protocol.PlanData, as `shear lorashear` cuts it): test, validation, and
// the training and calibration text.
type dataset struct {
	name   string // stories260K, austen
	split  string // the evaluated part: test or val
	source string // where the model and its data come from (for RESULTS.md)
	dense  *model.Model
	plan   *protocol.DataPlan
	// eval is the reported split's text (plan.Test, or plan.Validation
	// with -split val) and mc its cloze half; ood is the other model's
	// text of the same split, which this model never trained on.
	eval, ood string
	oodName   string
	mc        []eval.MCItem
	mcFile    int // cloze items in the file (both halves)
	// Packed once at the budget's ctx and shared read-only by the runs.
	text    []train.Example // training text (calibration is drawn from it per seed)
	subsets []prune.Subset  // recovery's stage-1 subsets
	dev     []train.Example // the validation text: recovery's early stopping
	graph   *graph.Graph    // the dense model's groups, to read the knowledge analysis
	tokens  map[string]int  // sizes of the parts in this model's tokens
}

// loadDatasets loads both models and cuts their data; split is "test"
// or "val", the part evaluated.
func loadDatasets(shared, split string, b budget) ([]*dataset, error) {
	stories, err := model.Load(filepath.Join(shared, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(filepath.Join(shared, "data/tinystories-dev.txt"))
	if err != nil {
		return nil, err
	}
	ins, err := train.ReadInstructions(filepath.Join(shared, "data/tinystories-instruct-dev.jsonl"))
	if err != nil {
		return nil, err
	}
	mc, err := eval.ReadMC(filepath.Join(shared, "data/cloze-dev.jsonl"))
	if err != nil {
		return nil, err
	}
	ctx := b.Prune.Ctx
	ts := &dataset{name: "stories260K", dense: stories, mcFile: len(mc),
		source: "../shared/models/stories260K.gguf on ../shared/data/tinystories-dev.txt, tinystories-instruct-dev.jsonl and cloze-dev.jsonl",
		plan:   protocol.PlanData(stories, []protocol.NamedText{{Name: "tinystories-dev.txt", Text: string(text)}}, ins, "", "", ctx)}
	mcVal, mcTest := protocol.SplitMC(mc)
	ts.mc = mcTest
	if split == "val" {
		ts.mc = mcVal
	}
	if b.MCItems > 0 {
		ts.mc = ts.mc[:min(b.MCItems, len(ts.mc))]
	}

	austen, err := assets.LoadDefault(model.LoadOptions{DType: tensor.F32})
	if err != nil {
		return nil, err
	}
	texts, err := protocol.ReadFS(assets.DefaultData())
	if err != nil {
		return nil, err
	}
	val, test := protocol.SplitHeldOut(assets.HeldOut())
	au := &dataset{name: "austen", dense: austen,
		source: "the embedded default model (assets, docs/DEFAULT_MODEL.md) on its training text, instructions and held-out Persuasion tail",
		plan:   protocol.PlanData(austen, texts, assets.DefaultInstructions(), test, val, ctx)}

	pick := func(p *protocol.DataPlan) string {
		if split == "val" {
			return p.Validation
		}
		return p.Test
	}
	ts.eval, au.eval = pick(ts.plan), pick(au.plan)
	ts.ood, ts.oodName = au.eval, "Austen "+splitName(split)+" half"
	au.ood, au.oodName = ts.eval, "TinyStories "+splitName(split)+" split"
	for _, d := range []*dataset{ts, au} {
		d.split = split
		d.pack(b)
	}
	return []*dataset{ts, au}, nil
}

func splitName(split string) string {
	if split == "val" {
		return "validation"
	}
	return "test"
}

// pack tokenizes the parts once for every run.
func (d *dataset) pack(b budget) {
	tok := d.dense.Tok
	d.tokens = map[string]int{"test": len(tok.Encode(d.plan.Test)), "validation": len(tok.Encode(d.plan.Validation)),
		"instructions": len(d.plan.Instruct), "dropped": d.plan.Dropped}
	for _, t := range d.plan.Train {
		d.text = append(d.text, train.PackText(tok, t, b.Prune.Ctx)...)
	}
	for _, ex := range d.text {
		d.tokens["train"] += len(ex.Targets)
	}
	d.subsets = d.plan.Subsets(d.dense, b.Recover.Ctx, b.Subsets)
	d.dev = train.PackText(tok, d.plan.Validation, b.Recover.Ctx)
	if b.DevSeqs > 0 {
		d.dev = d.dev[:min(b.DevSeqs, len(d.dev))]
	}
	d.graph = graph.Build(d.dense, graph.Options{Hidden: b.Prune.Hidden, LoRARank: b.Prune.LoRA.Rank})
}

// describe is the dataset's line of the protocol section.
func (d *dataset) describe() string {
	t := d.tokens
	s := fmt.Sprintf("%d parameters; %s. Tokens: test %d, validation %d, training %d (as packed into sequences); %d instructions (%d dropped for quoting test or validation text)",
		d.dense.Params(), d.source, t["test"], t["validation"], t["train"], t["instructions"], t["dropped"])
	if d.mcFile > 0 {
		s += fmt.Sprintf("; cloze: %d items of the %d, the %s half", len(d.mc), d.mcFile, splitName(d.split))
	}
	return s
}
