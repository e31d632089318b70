package prune

import (
	"fmt"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/train"
)

// ChannelStats are calibration statistics of one linear's input channels,
// accumulated in float64 over every token seen.
type ChannelStats struct {
	N     int       // tokens
	Mean  []float64 // mean of each channel
	M2    []float64 // Σ (x − mean)² of each channel (Welford, batches merged by Chan et al.)
	SumSq []float64 // ‖X_j‖² = Σ x² of each channel
}

func newChannelStats(width int) *ChannelStats {
	return &ChannelStats{Mean: make([]float64, width), M2: make([]float64, width), SumSq: make([]float64, width)}
}

// Var is each channel's sample variance M2/(N−1) (0 with fewer than two tokens).
func (s *ChannelStats) Var() []float64 {
	out := make([]float64, len(s.M2))
	if s.N > 1 {
		for j, v := range s.M2 {
			out[j] = v / float64(s.N-1)
		}
	}
	return out
}

// add merges n rows of width values: the batch's own mean and M2 first,
// then Chan's pairwise combination, so a large running mean never
// cancels against small deviations.
func (s *ChannelStats) add(rows []float32, n, width int, mean, m2 []float64) {
	clear(mean)
	clear(m2)
	for i := 0; i < n; i++ {
		for j, v := range rows[i*width : (i+1)*width] {
			mean[j] += float64(v)
			s.SumSq[j] += float64(v) * float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, v := range rows[i*width : (i+1)*width] {
			d := float64(v) - mean[j]
			m2[j] += d * d
		}
	}
	na, nb := float64(s.N), float64(n)
	tot := na + nb
	for j := range mean {
		delta := mean[j] - s.Mean[j]
		s.Mean[j] += delta * nb / tot
		s.M2[j] += m2[j] + delta*delta*na*nb/tot
	}
	s.N += n
}

// ActivationStats are the calibration statistics of every layer's Wo and
// Wdown inputs (nil where the layer has no attention or no MLP).
type ActivationStats struct {
	Wo, Wdown []*ChannelStats
}

// CollectActivations runs every calibration example as one sequence
// through m's inference forward pass and accumulates the statistics of
// Wo's input (the attention output) and Wdown's input (the MLP hidden) at
// every token of every example.
func CollectActivations(m *model.Model, calib []train.Example) (*ActivationStats, error) {
	maxT := 0
	for _, ex := range calib {
		maxT = max(maxT, len(ex.Tokens))
	}
	if maxT == 0 {
		return nil, fmt.Errorf("prune: no calibration tokens")
	}
	st := &ActivationStats{Wo: make([]*ChannelStats, m.Layers), Wdown: make([]*ChannelStats, m.Layers)}
	widest := 0
	for l := 0; l < m.Layers; l++ {
		if qd := m.Heads[l] * m.HeadDim; qd > 0 {
			st.Wo[l] = newChannelStats(qd)
		}
		if m.FFN[l] > 0 {
			st.Wdown[l] = newChannelStats(m.FFN[l])
		}
		widest = max(widest, m.Heads[l]*m.HeadDim, m.FFN[l])
	}
	mean, m2 := make([]float64, widest), make([]float64, widest)
	s := m.NewState(maxT, maxT)
	s.Observe = func(at model.Point, l int, rows []float32, n, width int) {
		switch at {
		case model.WoInput:
			st.Wo[l].add(rows, n, width, mean[:width], m2[:width])
		case model.WdownInput:
			st.Wdown[l].add(rows, n, width, mean[:width], m2[:width])
		}
	}
	for _, ex := range calib {
		if len(ex.Tokens) == 0 {
			continue
		}
		s.Reset()
		if _, err := s.Forward(ex.Tokens, false); err != nil {
			return nil, err
		}
	}
	return st, nil
}
