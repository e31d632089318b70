// Package tinymodel builds the smallest complete models Shear loads — a
// 16-token SentencePiece-style vocabulary, one or two layers of width 32
// — as seeds for the fuzz targets of every input format: small enough
// that a fuzzer runs thousands of executions per second, complete enough
// that every reader reaches its last check.
package tinymodel

import (
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// Vocab is a 16-token vocabulary: <unk>, <s>, </s>, the space marker and
// a few letters and merges.
func Vocab() tokenizer.Vocab {
	toks := []string{"<unk>", "<s>", "</s>", "▁", "a", "b", "c", "d", "e", "▁a", "ab", "cd", "▁ab", "ba", "dc", "e▁"}
	v := tokenizer.Vocab{Tokens: toks, BOS: 1, EOS: 2, UNK: 0, AddSpacePrefix: true, AddBOS: true}
	for i := range toks {
		v.Scores = append(v.Scores, -float32(i))
		t := int32(tokenizer.TypeNormal)
		switch i {
		case 0:
			t = tokenizer.TypeUnknown
		case 1, 2:
			t = tokenizer.TypeControl
		}
		v.Types = append(v.Types, t)
	}
	return v
}

// Config is the tiny shape: dim 32 (one quantization block per row),
// two query heads of 16 sharing one KV head, FFN 32, context 16.
func Config(layers int) model.Config {
	c := model.UniformConfig(32, 32, layers, 2, 1, 16, 16)
	c.NormEps = 1e-5
	return c
}

// New is a random tiny model of the given layer count, stored as dt, with
// the tiny vocabulary.
func New(layers int, dt tensor.DType, seed uint64) *model.Model {
	m, err := model.NewRandom(Config(layers), dt, seed)
	if err != nil {
		panic(err) // the shape is fixed and valid
	}
	if m.Tok, err = tokenizer.New(Vocab()); err != nil {
		panic(err)
	}
	return m
}

// GGUF is New encoded as a GGUF file.
func GGUF(layers int, dt tensor.DType, seed uint64) []byte {
	b, err := New(layers, dt, seed).Encode()
	if err != nil {
		panic(err)
	}
	return b
}
