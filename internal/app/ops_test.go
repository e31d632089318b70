package app

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/sample"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// TestGenerateFollowsAddBOS: the prompt starts with BOS only where the
// vocabulary says so (llama.cpp's add_special); a model that adds no BOS
// refuses an empty prompt by name instead of running token −1; the greedy
// tokens are those of the prompt's own tokens fed to the model.
func TestGenerateFollowsAddBOS(t *testing.T) {
	m, err := model.Load(testshared.Path(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	withBOS := m.Tok
	v := withBOS.Vocab()
	v.AddBOS = false
	noBOS, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "Once upon a time"
	for _, c := range []struct {
		tok   *tokenizer.Tokenizer
		input []int
	}{
		{withBOS, append([]int{withBOS.BOS()}, withBOS.Encode(prompt)...)},
		{noBOS, noBOS.Encode(prompt)},
	} {
		m.Tok = c.tok
		res, err := Generate(m, GenerateRequest{Prompt: prompt, N: 8, IgnoreEOS: true}, func(string, int, int, float64) bool { return false })
		if err != nil {
			t.Fatal(err)
		}
		if res.PromptTokens != len(c.input) {
			t.Errorf("add_bos %v: %d prompt tokens, want %d", c.tok.AddBOS(), res.PromptTokens, len(c.input))
		}
		st := m.NewState(64, 1)
		logits, err := st.Forward(c.input, false)
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for range 8 {
			tok := sample.Argmax(logits)
			want = append(want, tok)
			if logits, err = st.Forward([]int{tok}, false); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(res.Tokens, want) {
			t.Errorf("add_bos %v: %v, want %v", c.tok.AddBOS(), res.Tokens, want)
		}
	}
	m.Tok = noBOS
	_, err = NewGenerator(m, GenerateRequest{N: 8})
	var re RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "add_bos_token") {
		t.Errorf("empty prompt without BOS: err = %v", err)
	}
}
