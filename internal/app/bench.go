package app

import (
	"time"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// BenchRequest is `shear bench`: the prefill and decode speed of a model,
// or, without one, of a random model of Shape (a model.Shapes entry)
// stored as DType.
type BenchRequest struct {
	Shape   string `json:"shape"`
	DType   string `json:"dtype,omitempty"` // of the random model; default f16
	Prefill int    `json:"prefill"`         // prompt tokens
	Decode  int    `json:"decode"`          // decoded tokens
}

// Default is `shear bench`'s request: the 15M shape, 128 tokens of
// prompt, 64 decoded.
func (BenchRequest) Default() BenchRequest {
	return BenchRequest{Shape: "15M", Prefill: 128, Decode: 64}
}

// BenchResult is what `shear bench` reports.
type BenchResult struct {
	PrefillTokS   float64 `json:"prefill_tok_s"`
	DecodeTokS    float64 `json:"decode_tok_s"`
	Params        int     `json:"params"`
	DType         string  `json:"dtype"`
	PrefillTokens int     `json:"prefill_tokens"`
	DecodeTokens  int     `json:"decode_tokens"`
}

// Validate checks what can be checked before a model is loaded.
func (req BenchRequest) Validate() error {
	if req.Prefill < 1 || req.Decode < 1 {
		return badRequest("--prefill and --decode must be ≥ 1")
	}
	return nil
}

// BenchModel is the random model of req.Shape that Bench measures when it
// is given none.
func (req BenchRequest) BenchModel() (*model.Model, error) {
	c, ok := model.Shapes[req.Shape]
	if !ok {
		return nil, badRequest("--shape %q is not one of %s", req.Shape, ShapeNames())
	}
	dt := tensor.F16
	if req.DType != "" {
		var err error
		if dt, err = tensor.ParseDType(req.DType); err != nil {
			return nil, badRequest("--dtype: %v", err)
		}
	}
	return model.NewRandom(c, dt, 1)
}

// Bench times req.Prefill tokens in one forward call and then req.Decode
// single-token calls on m, after a one-token warm-up.
func Bench(m *model.Model, req BenchRequest) (BenchResult, error) {
	res := BenchResult{Params: m.Params(), DType: StorageNames(m), PrefillTokens: req.Prefill, DecodeTokens: req.Decode}
	if err := req.Validate(); err != nil {
		return res, err
	}
	tokens := make([]int, req.Prefill+req.Decode)
	for i := range tokens {
		tokens[i] = (i*7919 + 1) % m.Vocab
	}
	st := m.NewState(req.Prefill+req.Decode, 64)
	st.Forward(tokens[:1], false) // warm up the pool and caches
	st.Reset()
	t0 := time.Now()
	if _, err := st.Forward(tokens[:req.Prefill], false); err != nil {
		return res, err
	}
	res.PrefillTokS = float64(req.Prefill) / time.Since(t0).Seconds()
	t0 = time.Now()
	for i := 0; i < req.Decode; i++ {
		if _, err := st.Forward(tokens[req.Prefill+i:req.Prefill+i+1], false); err != nil {
			return res, err
		}
	}
	res.DecodeTokS = float64(req.Decode) / time.Since(t0).Seconds()
	return res, nil
}
