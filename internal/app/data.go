package app

import (
	"errors"
	"path/filepath"
	"strings"

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
// the calibration set of `shear prune` (see pruneData; calib names a file
// of calibration text, "" for none).
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
	return pruneData(text, instruct, calibEx, calibSeqs, seed), nil
}

// pruneData is the one cut of a pruning stage's data (prune and
// lorashear): calibSeqs calibration sequences — the first of calib when
// given, else held out of the text (drawn with seed+7) when it has more
// than that, else the first instructions — and for training the rest of
// the text, then the instructions.
func pruneData(text, instruct, calib []train.Example, calibSeqs int, seed uint64) prune.Data {
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

// dataPlan is the data of a pruning pipeline, with the evaluation text
// kept out of every training and calibration step.
type dataPlan struct {
	heldOut  string          // evaluation text
	trainTxt []string        // training texts (one per file)
	names    []string        // file names
	instruct []train.Example // instructions, minus any that quote the held-out text
	dropped  int             // instructions dropped for quoting the held-out text
}

// HoldOutFrac of every data file, its head cut at a paragraph boundary,
// is the evaluation text of lorashear when none is given.
const HoldOutFrac = 0.1

// splitHead cuts text into its first frac (at a blank line) and the rest.
func splitHead(text string, frac float64) (head, rest string) {
	cut := int(float64(len(text)) * frac)
	if i := strings.Index(text[cut:], "\n\n"); i >= 0 {
		cut += i + 2
	}
	return text[:cut], text[cut:]
}

// planData holds out the evaluation text — evalText, or the first 10% of
// every text — and drops instructions that quote it.
func planData(m *model.Model, texts []NamedText, ins []train.Instruction, evalText string, ctx int) *dataPlan {
	p := &dataPlan{heldOut: evalText}
	for _, t := range texts {
		rest := t.Text
		if evalText == "" {
			var held string
			held, rest = splitHead(t.Text, HoldOutFrac)
			p.heldOut += held
		}
		p.trainTxt, p.names = append(p.trainTxt, rest), append(p.names, t.Name)
	}
	for _, in := range ins {
		if quotes(p.heldOut, in.Input) || quotes(p.heldOut, in.Output) {
			p.dropped++
			continue
		}
		if ex, ok := train.InstructionExample(m.Tok, in, ctx); ok {
			p.instruct = append(p.instruct, ex)
		}
	}
	return p
}

// quotes reports whether s (long enough to be telling) appears in text.
func quotes(text, s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 20 && strings.Contains(text, s)
}

// subsets cuts the training texts into recovery subsets: one per file, or
// by paragraph length for a single file (prune.SplitByLength).
func (p *dataPlan) subsets(m *model.Model, ctx, k int) []prune.Subset {
	if len(p.trainTxt) == 1 {
		return prune.SplitByLength(m.Tok, p.trainTxt[0], ctx, k)
	}
	var out []prune.Subset
	for i, t := range p.trainTxt {
		if ex := train.PackText(m.Tok, t, ctx); len(ex) > 0 {
			out = append(out, prune.Subset{Name: p.names[i], Examples: ex})
		}
	}
	return out
}

// pruneData is the training and calibration data of the pruning stage.
func (p *dataPlan) pruneData(m *model.Model, ctx, calibSeqs int, seed uint64) prune.Data {
	var text []train.Example
	for _, t := range p.trainTxt {
		text = append(text, train.PackText(m.Tok, t, ctx)...)
	}
	return pruneData(text, p.instruct, nil, calibSeqs, seed)
}
