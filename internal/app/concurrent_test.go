package app

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/model"
)

// TestReadersShareModel: the operations that only read their model
// (documented in the package comment) run at once on one Model and give
// what serial runs give; under -race (make test-race) this also shows that
// they write nothing shared.
func TestReadersShareModel(t *testing.T) {
	m, err := model.Load(testshared.Path(t, "models/stories260K.gguf"), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keepGoing := func(string, int, int, float64) bool { return false }
	run := func(seed uint64) (string, error) {
		g, err := Generate(m, GenerateRequest{Prompt: "Once upon a time", N: 24, Temperature: 0.8, TopP: 1, Seed: seed}, keepGoing)
		if err != nil {
			return "", err
		}
		p, err := Perplexity(m, PerplexityRequest{Text: "The cat sat on the mat. It was a sunny day and the cat was happy.", Ctx: 16}, keepGoing)
		if err != nil {
			return "", err
		}
		return fmt.Sprint(g.Tokens, p.PPL), nil
	}
	want := make([]string, 4)
	for i := range want {
		if want[i], err = run(uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]string, len(want))
	errs := make([]error, len(want))
	var wg sync.WaitGroup
	for i := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = run(uint64(i))
		}()
	}
	wg.Wait()
	for i := range want {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("concurrent runs %q, serial runs %q", got, want)
	}
}
