package app

import (
	"encoding/json"
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/tensor"
)

// FuzzRequests: the JSON requests the guest's exports decode (shear_load_model's
// options, shear_tokenize, shear_logits, shear_generate, shear_perplexity,
// shear_mc_scores) run on a tiny model natively: each either is a request
// error or succeeds with a result that encodes to JSON — never a panic, an
// allocation beyond the model's context, or a NaN in the result (which
// json.Marshal refuses). shear_prune
// is left out: a valid request trains for as many steps as it asks.
func FuzzRequests(f *testing.F) {
	for _, s := range []struct {
		op  uint8
		req string
	}{
		{0, `{"dtype":"q8_0"}`},
		{1, `{"text":"ab cd","bos":true}`},
		{2, `{"tokens":[1,4,5]}`},
		{3, `{"prompt":"ab","n":4,"temperature":0.8,"top_k":3,"top_p":0.9,"seed":7}`},
		{3, `{"n":100000000}`},
		{4, `{"text":"ab cd ab cd ab cd ab cd","ctx":4,"chunks":2}`},
		{5, `{"items":[{"context":"ab","choices":[" cd"," e"],"gold":1}],"ctx":8}`},
	} {
		f.Add(s.op, []byte(s.req))
	}
	m := tinymodel.New(1, tensor.F32, 1)
	noPoll := func(string, int, int, float64) bool { return false }
	f.Fuzz(func(t *testing.T, op uint8, js []byte) {
		decode := func(v any) bool { return json.Unmarshal(js, v) == nil }
		var res any
		var err error
		switch op % 6 {
		case 0:
			var o LoadOptions
			if !decode(&o) {
				return
			}
			_, err = ParseLoad(o)
		case 1:
			var r TokenizeRequest
			if !decode(&r) {
				return
			}
			res = Tokenize(m, r)
		case 2:
			var r LogitsRequest
			if !decode(&r) {
				return
			}
			var logits []float32
			if logits, err = Logits(m, r); err == nil && len(logits) != len(r.Tokens)*m.Vocab {
				t.Fatalf("%d logits for %d tokens", len(logits), len(r.Tokens))
			}
		case 3:
			var r GenerateRequest
			if !decode(&r) {
				return
			}
			res, err = Generate(m, r, noPoll)
		case 4:
			var r PerplexityRequest
			if !decode(&r) {
				return
			}
			res, err = Perplexity(m, r, noPoll)
		case 5:
			var r ScoreRequest
			if !decode(&r) {
				return
			}
			res, err = Score(m, r, noPoll)
		}
		if err != nil {
			return // refused with an error (the guest maps it to a status)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("op %d: the result does not encode: %v", op%6, err)
		}
	})
}
