package model_test

import (
	"fmt"
	"log"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
)

// Load a model and continue a prompt greedily. model.Load(path, opts)
// loads a GGUF file the same way; the embedded default model needs none.
func Example() {
	m, err := assets.LoadDefault(model.DefaultLoadOptions())
	if err != nil {
		log.Fatal(err)
	}
	_, text, err := m.Generate("It was a truth", 8, sample.Argmax)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", text)
	// Output: ", and the courts of"
}

// Sample instead of decoding greedily: temperature, top-k and top-p as
// llama.cpp's defaults, seeded.
func ExampleModel_Generate() {
	m, err := assets.LoadDefault(model.DefaultLoadOptions())
	if err != nil {
		log.Fatal(err)
	}
	s := sample.New(sample.Params{Temperature: 0.8, TopK: 40, TopP: 0.95, Seed: 1}, m.Vocab)
	tokens, _, err := m.Generate("It was a truth", 32, s.Sample)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(tokens), "tokens")
	// Output: 32 tokens
}
