package app

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
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
// the calibration set of `shear prune` (see CutPruneData; calib names a
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
	return CutPruneData(text, instruct, calibEx, calibSeqs, seed), nil
}

// cut reads the --data texts and the instructions and cuts them with
// PlanData, so that recover trains on what lorashear trains on and never
// on the test or validation text of the same files.
func (d DataFiles) cut(m *model.Model, ctx int) (*DataPlan, error) {
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
	p := PlanData(m, texts, ins, "", "", ctx)
	if len(ins) > 0 && len(p.Instruct) == 0 {
		return nil, fmt.Errorf("%s: no instruction fits the context of %d tokens without quoting the test or validation text (%d dropped for quoting it)", d.Instruct, ctx, p.Dropped)
	}
	return p, nil
}

// CutPruneData is the one cut of a pruning stage's data (prune and
// lorashear): calibSeqs calibration sequences — the first of calib when
// given, else held out of the text (drawn with seed+7) when it has more
// than that, else the first instructions — and for training the rest of
// the text, then the instructions.
func CutPruneData(text, instruct, calib []train.Example, calibSeqs int, seed uint64) prune.Data {
	var d prune.Data
	if len(calib) > 0 {
		d.Calib = calib[:min(len(calib), calibSeqs)]
	} else if len(text) > calibSeqs {
		text, d.Calib = train.Split(text, float64(calibSeqs)/float64(len(text)), seed+7)
	}
	d.Train = append(text, instruct...)
	if len(d.Calib) == 0 {
		d.Calib = instruct[:min(len(instruct), calibSeqs)]
	}
	return d
}

// NamedText is one training text and where it came from.
type NamedText struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// ReadFS reads every regular file of fsys (the embedded default data),
// named by its base name, in lexical order.
func ReadFS(fsys fs.FS) ([]NamedText, error) {
	var out []NamedText
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		out = append(out, NamedText{Name: path.Base(p), Text: string(b)})
		return err
	})
	return out, err
}

// readTexts reads the files of a --data path (regular files only, as
// train.LoadText reads them).
func readTexts(path string) ([]NamedText, error) {
	files, err := train.TextFiles(path)
	if err != nil {
		return nil, err
	}
	var out []NamedText
	for _, f := range files {
		b, err := safefile.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, NamedText{filepath.Base(f), string(b)})
	}
	return out, nil
}

// DataPlan is the data of a pruning pipeline, with the test and
// validation texts kept out of every training and calibration step.
type DataPlan struct {
	Test       string          // the evaluation text
	Validation string          // recovery's dev set (none with an --eval file)
	Train      []string        // training texts (one per file)
	Names      []string        // file names
	Instruct   []train.Example // instructions, minus any that quote the test or validation text
	Dropped    int             // instructions dropped for quoting them
}

// PlanData cuts every text with SplitText (test, validation, training),
// unless the test text is given (evalText: an --eval file, whose data
// files then train whole, or the embedded held-out text with its
// validation half valText); instructions quoting the test or validation
// text are dropped.
func PlanData(m *model.Model, texts []NamedText, ins []train.Instruction, evalText, valText string, ctx int) *DataPlan {
	p := &DataPlan{Test: evalText, Validation: valText}
	for _, t := range texts {
		rest := t.Text
		if evalText == "" {
			s := SplitText(t.Text)
			p.Test += s.Test
			p.Validation += s.Validation
			rest = s.Train
		}
		p.Train, p.Names = append(p.Train, rest), append(p.Names, t.Name)
	}
	ins, p.Dropped = DropQuoting(ins, p.Test, p.Validation)
	for _, in := range ins {
		if ex, ok := train.InstructionExample(m.Tok, in, ctx); ok {
			p.Instruct = append(p.Instruct, ex)
		}
	}
	return p
}

// Subsets cuts the training texts into recovery subsets: one per file, or
// by paragraph length for a single file (prune.SplitByLength).
func (p *DataPlan) Subsets(m *model.Model, ctx, k int) []prune.Subset {
	if len(p.Train) == 1 {
		return prune.SplitByLength(m.Tok, p.Train[0], ctx, k)
	}
	var out []prune.Subset
	for i, t := range p.Train {
		if ex := train.PackText(m.Tok, t, ctx); len(ex) > 0 {
			out = append(out, prune.Subset{Name: p.Names[i], Examples: ex})
		}
	}
	return out
}

// TrainText packs the training texts into sequences of ctx tokens.
func (p *DataPlan) TrainText(m *model.Model, ctx int) []train.Example {
	var text []train.Example
	for _, t := range p.Train {
		text = append(text, train.PackText(m.Tok, t, ctx)...)
	}
	return text
}

// PruneData is the training and calibration data of the pruning stage.
func (p *DataPlan) PruneData(m *model.Model, ctx, calibSeqs int, seed uint64) prune.Data {
	return CutPruneData(p.TrainText(m, ctx), p.Instruct, nil, calibSeqs, seed)
}
