package app

import (
	"errors"
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"path/filepath"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// DataFiles name the training data of finetune, prune, recover and
// lorashear.
type DataFiles struct {
	Text     string `json:"text,omitempty"`     // plain text file or directory of text files
	Instruct string `json:"instruct,omitempty"` // instruction JSONL (Alpaca fields)
	// Embedded stands in for Text and Instruct when both are empty: the
	// data that comes with the program (its texts and instructions).
	Embedded *EmbeddedData `json:"-"`
}

// Need refuses a request without any training data.
func (d DataFiles) Need() error {
	if d.Text == "" && d.Instruct == "" && d.Embedded == nil {
		return errors.New("no training data: pass --data PATH and/or --instruct FILE.jsonl")
	}
	return nil
}

// embedded reports whether the embedded data stands in for the files.
func (d DataFiles) embedded() bool { return d.Text == "" && d.Instruct == "" && d.Embedded != nil }

// text reads the training text (none without) as examples of ctx tokens.
func (d DataFiles) text(m *model.Model, ctx int) ([]train.Example, error) {
	if d.embedded() {
		var out []train.Example
		for _, t := range d.Embedded.Texts {
			out = append(out, train.PackText(m.Tok, t.Text, ctx)...)
		}
		return out, nil
	}
	if d.Text == "" {
		return nil, nil
	}
	return train.LoadText(m.Tok, d.Text, ctx)
}

// instructions reads the instructions (none without) as examples.
func (d DataFiles) instructions(m *model.Model, ctx int) ([]train.Example, error) {
	if d.embedded() {
		var out []train.Example
		for _, in := range d.Embedded.Instructions {
			if ex, ok := train.InstructionExample(m.Tok, in, ctx); ok {
				out = append(out, ex)
			}
		}
		return out, nil
	}
	if d.Instruct == "" {
		return nil, nil
	}
	return train.LoadInstructions(m.Tok, d.Instruct, ctx)
}

// Load reads the text and instructions as examples of ctx tokens.
func (d DataFiles) Load(m *model.Model, ctx int) ([]train.Example, error) {
	text, err := d.text(m, ctx)
	if err != nil {
		return nil, err
	}
	ins, err := d.instructions(m, ctx)
	return append(text, ins...), err
}

// LoadPruneData loads the training examples (text and instructions) and
// the calibration set of `shear prune` (see protocol.CutPruneData; calib names a
// file of calibration text, "" for none). Unlike lorashear and recover
// it trains on the whole --data text (see docs/EVALUATION.md).
func LoadPruneData(m *model.Model, d DataFiles, calib string, calibSeqs, ctx int, seed uint64) (prune.Data, error) {
	if err := d.Need(); err != nil {
		return prune.Data{}, err
	}
	text, err := d.text(m, ctx)
	if err != nil {
		return prune.Data{}, err
	}
	var calibEx []train.Example
	if calib != "" {
		if calibEx, err = train.LoadText(m.Tok, calib, ctx); err != nil {
			return prune.Data{}, err
		}
	}
	instruct, err := d.instructions(m, ctx)
	if err != nil {
		return prune.Data{}, err
	}
	return protocol.CutPruneData(text, instruct, calibEx, calibSeqs, seed), nil
}

// cut reads the --data texts and the instructions and cuts them with
// protocol.PlanData, so that recover trains on what lorashear trains on and never
// on the test or validation text of the same files.
func (d DataFiles) cut(m *model.Model, ctx int) (*protocol.DataPlan, error) {
	texts, err := readTexts(d.Text)
	if err != nil {
		return nil, err
	}
	var ins []train.Instruction
	if d.Instruct != "" {
		if ins, err = train.ReadInstructions(d.Instruct); err != nil {
			return nil, err
		}
	}
	p := protocol.PlanData(m, texts, ins, "", "", ctx)
	if len(ins) > 0 && len(p.Instruct) == 0 {
		return nil, fmt.Errorf("%s: no instruction fits the context of %d tokens without quoting the test or validation text (%d dropped for quoting it)", d.Instruct, ctx, p.Dropped)
	}
	return p, nil
}

// readTexts reads the files of a --data path (regular files only, as
// train.LoadText reads them).
func readTexts(path string) ([]protocol.NamedText, error) {
	files, err := train.TextFiles(path)
	if err != nil {
		return nil, err
	}
	var out []protocol.NamedText
	for _, f := range files {
		b, err := safefile.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, protocol.NamedText{Name: filepath.Base(f), Text: string(b)})
	}
	return out, nil
}
