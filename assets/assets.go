// Package assets embeds Shear's default model and data, so that the shear
// binary works from any directory without downloads: a small LLaMA trained
// from scratch on Jane Austen with Shear's own trainer, the text it was
// trained on, a held-out text, and a small instruction set derived from the
// training text. docs/DEFAULT_MODEL.md describes them; `make default-model`
// rebuilds them (tools/defaultmodel).
package assets

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

//go:embed default.gguf
var defaultModel []byte

//go:embed data/train/*.txt data/heldout.txt data/instruct.jsonl
var data embed.FS

// DefaultModel returns the default model's GGUF bytes (f16 weights, with
// its BPE vocabulary). The slice is a fresh copy the caller may keep.
func DefaultModel() []byte { return bytes.Clone(defaultModel) }

// LoadDefault parses the default model with the given load options. The
// weights do not share memory with the embedded bytes.
func LoadDefault(opt model.LoadOptions) (*model.Model, error) {
	f, err := gguf.Parse(DefaultModel())
	if err != nil {
		return nil, err
	}
	return model.FromGGUF(f, opt)
}

// DefaultData is the default model's training text: one reflowed novel
// per .txt file at the root (emma.txt, …; persuasion.txt without its last
// tenth, which is HeldOut).
func DefaultData() fs.FS {
	sub, err := fs.Sub(data, "data/train")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// HeldOut is the last tenth of Persuasion (by bytes, at a paragraph
// boundary), reflowed as the training text is. The default model never saw it.
func HeldOut() string { return string(mustRead("data/heldout.txt")) }

// DefaultInstruct is an Alpaca-style JSONL file of "Continue the passage."
// records derived from the training text (docs/DEFAULT_MODEL.md).
func DefaultInstruct() []byte { return mustRead("data/instruct.jsonl") }

// DefaultInstructions parses DefaultInstruct.
func DefaultInstructions() []train.Instruction {
	var out []train.Instruction
	dec := json.NewDecoder(bytes.NewReader(DefaultInstruct()))
	for dec.More() {
		var in train.Instruction
		if err := dec.Decode(&in); err != nil {
			panic(err) // embedded and tested: cannot fail
		}
		out = append(out, in)
	}
	return out
}

func mustRead(name string) []byte {
	b, err := data.ReadFile(name)
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	return b
}
