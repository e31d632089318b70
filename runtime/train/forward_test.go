package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestForwardMatchesInference: the trainer's forward and the inference
// forward (runtime/model) give bit-identical logits, so a loss measured in
// training is the loss of the model that is shipped. Both run the same
// kernels row by row; the one thing that depends on the batch is how the
// matrix product groups rows (three at a time, simd's kern3x4, the rest
// one by one), so the sequences are a multiple of three long and the
// inference side prefills each in one batch.
func TestForwardMatchesInference(t *testing.T) {
	models := map[string]func(t *testing.T) *model.Model{
		"stories260K":     func(t *testing.T) *model.Model { return stories(t, tensor.F32) },
		"stories260K-f16": func(t *testing.T) *model.Model { return stories(t, tensor.F16) },
		"gqa": func(t *testing.T) *model.Model {
			return tinyModel(t, nil)
		},
	}
	for name, mk := range models {
		t.Run(name, func(t *testing.T) {
			checkForwardMatchesInference(t, mk(t))
		})
	}
}

func checkForwardMatchesInference(t *testing.T, m *model.Model) {
	t.Helper()
	const B, T = 3, 18
	tr, err := New(m, Options{Batch: B, Ctx: T, Frozen: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	tokens := make([]int, B*T)
	for i := range tokens {
		tokens[i] = rng.IntN(m.Vocab)
	}
	got, err := tr.Logits(tokens)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Vocab
	st := m.NewState(T, T)
	for b := 0; b < B; b++ {
		st.Reset()
		want, err := st.Forward(tokens[b*T:(b+1)*T], true)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if g := got[b*T*V+i]; math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("sequence %d, row %d, logit %d: trainer %v, inference %v", b, i/V, i%V, g, w)
			}
		}
	}
}
