package eval

import (
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/tensor"
)

// TestPerplexityNotFinite: weights that are finite but overflow in the
// forward pass give an error, not "ppl NaN" (issue 17 item 3).
func TestPerplexityNotFinite(t *testing.T) {
	m := tinymodel.New(1, tensor.F32, 1)
	toks := []int{1, 4, 5, 6, 7, 8, 4, 5, 6, 7, 8, 9}
	if _, err := Perplexity(m, toks, 4, 0, nil); err != nil {
		t.Fatalf("the intact model: %v", err)
	}
	for i := range m.OutNorm {
		m.OutNorm[i] = 3e38
	}
	if _, err := Perplexity(m, toks, 4, 0, nil); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Errorf("overflowing model: error %v", err)
	}
}
