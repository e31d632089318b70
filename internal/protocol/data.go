package protocol

import (
	"io/fs"
	"path"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

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
