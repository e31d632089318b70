package eval

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// withoutBOS gives m a copy of its vocabulary that starts inputs with no
// BOS (tokenizer.ggml.add_bos_token = false, as Qwen's).
func withoutBOS(t *testing.T, m *model.Model) *model.Model {
	t.Helper()
	v := m.Tok.Vocab()
	v.AddBOS = false
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = tok
	return m
}

// TestPerplexityWithoutBOS: a model that adds no BOS is scored on chunks of
// ctx tokens, the first of each only context, ctx−1 scored per chunk; the
// reference feeds each chunk one token at a time and adds up LogProb.
func TestPerplexityWithoutBOS(t *testing.T) {
	m := withoutBOS(t, stories(t, tensor.F32))
	text, err := os.ReadFile(sharedPath(t, "data/tinystories-dev.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := m.Tok.Encode(string(text[:20000]))
	const ctx, chunks = 64, 5
	res, err := Perplexity(m, tokens, ctx, chunks, nil)
	if err != nil {
		t.Fatal(err)
	}
	var nll float64
	st := m.NewState(ctx, 1)
	for c := range chunks {
		chunk := tokens[c*ctx : (c+1)*ctx]
		st.Reset()
		for i := 0; i+1 < len(chunk); i++ {
			logits, err := st.Forward(chunk[i:i+1], false)
			if err != nil {
				t.Fatal(err)
			}
			nll -= LogProb(logits, chunk[i+1])
		}
	}
	want := nll / float64(chunks*(ctx-1))
	if res.Scored != chunks*(ctx-1) || res.Chunks != chunks || math.Abs(res.NLL-want) > 1e-4 {
		t.Errorf("scored %d in %d chunks, mean NLL %.6f; want %d in %d, %.6f", res.Scored, res.Chunks, res.NLL, chunks*(ctx-1), chunks, want)
	}
	withBOS, err := Perplexity(stories(t, tensor.F32), tokens, ctx, chunks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withBOS.NLL == res.NLL {
		t.Error("the same NLL with and without BOS: the flag is not followed")
	}
}

// TestChoicesWithoutBOS: without a BOS the continuation follows
// tok(context) alone, and an empty context is refused by name.
func TestChoicesWithoutBOS(t *testing.T) {
	m := withoutBOS(t, stories(t, tensor.F32))
	st := m.NewState(64, 1)
	it := MCItem{Context: "Once upon a time", Choices: []string{" there", " banana"}, Gold: 0}
	scores, err := ChoiceScores(st, m, it)
	if err != nil {
		t.Fatal(err)
	}
	for c, choice := range it.Choices {
		ctxTok := m.Tok.Encode(it.Context)
		whole := m.Tok.Encode(it.Context + choice)
		st.Reset()
		logits, err := st.Forward(whole[:len(whole)-1], true)
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for i := len(ctxTok); i < len(whole); i++ {
			want += LogProb(logits[(i-1)*m.Vocab:i*m.Vocab], whole[i])
		}
		if math.Abs(scores[c]-want) > 1e-4 {
			t.Errorf("choice %q: %v, want %v", choice, scores[c], want)
		}
	}
	_, err = ChoiceScores(st, m, MCItem{Context: "", Choices: []string{" a", " b"}})
	if err == nil || !strings.Contains(err.Error(), "no BOS") {
		t.Errorf("empty context without BOS: err = %v", err)
	}
}
