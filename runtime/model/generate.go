package model

import "fmt"

// Generate continues BOS and the prompt (BOS alone for an empty prompt)
// by up to n tokens, each chosen from the last position's logits by next
// (sample.Argmax for greedy decoding, or a sample.Sampler's Sample), and
// stops early at EOS. It returns the new tokens and their text. It is the
// short form of the loop `shear generate` runs (internal/app streams,
// polls and checks its flags around the same Forward calls).
func (m *Model) Generate(prompt string, n int, next func(logits []float32) int) ([]int, string, error) {
	input := []int{m.Tok.BOS()}
	if prompt != "" {
		input = append(input, m.Tok.Encode(prompt)...)
	}
	if n < 1 || len(input)+n > m.CtxLen {
		return nil, "", fmt.Errorf("model: %d prompt tokens and %d new ones do not fit the context of %d", len(input), n, m.CtxLen)
	}
	st, err := m.NewBoundedState(len(input)+n, 64, 0)
	if err != nil {
		return nil, "", err
	}
	logits, err := st.Forward(input, false)
	var out []int
	for err == nil && len(out) < n {
		t := next(logits)
		if t == m.Tok.EOS() {
			break
		}
		out = append(out, t)
		if len(out) < n {
			logits, err = st.Forward([]int{t}, false)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return out, m.Tok.Decode(out), nil
}
