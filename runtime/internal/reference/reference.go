// Package reference is a float64 LLaMA transformer written straight from
// the equations: full recompute, no cache, no SIMD, no shared code with
// the runtime. Tests use it as the independent reference for logits and,
// through central finite differences, for gradients.
package reference

import (
	"math"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// Mat is a dense row-major matrix: Mat[r][c].
type Mat [][]float64

// Layer is one block's weights in float64. Nil parts are absent.
type Layer struct {
	AttnNorm, FFNNorm []float64
	Wq, Wk, Wv, Wo    Mat
	Bq, Bk, Bv        []float64
	Bo, Bdown         []float64 // output biases of Wo and Wdown
	QNorm, KNorm      []float64 // per-head norms of q and k (Qwen3)
	Wgate, Wup, Wdown Mat
}

// Model is a float64 copy of a model.
type Model struct {
	Cfg     model.Config
	Embed   Mat
	Layers  []Layer
	OutNorm []float64
	Output  Mat // same slices as Embed when tied
}

// FromMatrix converts a runtime matrix.
func FromMatrix(t *tensor.Matrix) Mat {
	if t == nil {
		return nil
	}
	f := t.Float32()
	out := make(Mat, t.Rows)
	for r := range out {
		out[r] = make([]float64, t.Cols)
		for j := range out[r] {
			out[r][j] = float64(f[r*t.Cols+j])
		}
	}
	return out
}

func vec(v []float32) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// FromModel copies m into float64.
func FromModel(m *model.Model) *Model {
	r := &Model{Cfg: m.Config, Embed: FromMatrix(m.Embed), OutNorm: vec(m.OutNorm)}
	r.Output = r.Embed
	if !m.Tied {
		r.Output = FromMatrix(m.Output)
	}
	for i := range m.Blocks {
		L := &m.Blocks[i]
		r.Layers = append(r.Layers, Layer{
			AttnNorm: vec(L.AttnNorm), FFNNorm: vec(L.FFNNorm),
			Wq: FromMatrix(L.Wq), Wk: FromMatrix(L.Wk), Wv: FromMatrix(L.Wv), Wo: FromMatrix(L.Wo),
			Bq: vec(L.Bq), Bk: vec(L.Bk), Bv: vec(L.Bv), QNorm: vec(L.QNorm), KNorm: vec(L.KNorm),
			Wgate: FromMatrix(L.Wgate), Wup: FromMatrix(L.Wup), Wdown: FromMatrix(L.Wdown),
			Bo: vec(L.Bo), Bdown: vec(L.Bdown),
		})
	}
	return r
}

func mv(w Mat, x []float64) []float64 {
	y := make([]float64, len(w))
	for r := range w {
		for j, v := range x {
			y[r] += w[r][j] * v
		}
	}
	return y
}

func (m *Model) norm(x, w []float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+float64(m.Cfg.NormEps))
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * s * w[i]
	}
	return y
}

// invFreq is pair i's angular frequency, with transformers' rope_scaling
// (modeling_rope_utils: linear divides positions by the factor; llama3
// divides low frequencies by it and blends the band between).
func (m *Model) invFreq(i int) float64 {
	c := &m.Cfg
	f := math.Pow(float64(c.RopeBase), -2*float64(i)/float64(c.RopeDim))
	r := &c.RopeScaling
	switch r.Type {
	case "linear":
		return f / float64(r.Factor)
	case "llama3":
		lowWavelen := float64(r.OrigCtx) / float64(r.LowFreqFactor)
		highWavelen := float64(r.OrigCtx) / float64(r.HighFreqFactor)
		wavelen := 2 * math.Pi / f
		switch {
		case wavelen > lowWavelen:
			return f / float64(r.Factor)
		case wavelen < highWavelen:
			return f
		}
		smooth := (float64(r.OrigCtx)/wavelen - float64(r.LowFreqFactor)) / float64(r.HighFreqFactor-r.LowFreqFactor)
		return (1-smooth)*f/float64(r.Factor) + smooth*f
	}
	return f
}

// rope rotates pairs (2i, 2i+1) of each head, or (i, i+ropeDim/2) for the
// NeoX-style families (transformers' rotate_half).
func (m *Model) rope(x []float64, heads, pos int) {
	c, hd := &m.Cfg, m.Cfg.HeadDim
	half := c.RopeDim / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			th := float64(pos) * m.invFreq(i)
			ia, ib := h*hd+2*i, h*hd+2*i+1
			if c.NeoxRoPE() {
				ia, ib = h*hd+i, h*hd+i+half
			}
			a, b := x[ia], x[ib]
			x[ia] = a*math.Cos(th) - b*math.Sin(th)
			x[ib] = a*math.Sin(th) + b*math.Cos(th)
		}
	}
}

// headNorm applies the RMSNorm w to each head of x.
func (m *Model) headNorm(x, w []float64, heads int) {
	if w == nil {
		return
	}
	hd := m.Cfg.HeadDim
	for h := 0; h < heads; h++ {
		copy(x[h*hd:(h+1)*hd], m.norm(x[h*hd:(h+1)*hd], w))
	}
}

func addv(x, b []float64) {
	for i := range b {
		x[i] += b[i]
	}
}

func silu(v float64) float64 { return v / (1 + math.Exp(-v)) }

// Logits runs tokens as one sequence from position 0 and returns every
// position's logits.
func (m *Model) Logits(tokens []int) [][]float64 {
	c := &m.Cfg
	hd, n := c.HeadDim, len(tokens)
	xs := make([][]float64, n)
	for i, t := range tokens {
		xs[i] = append([]float64(nil), m.Embed[t]...)
	}
	for l := range m.Layers {
		L := &m.Layers[l]
		H, KV := c.Heads[l], c.KVHeads[l]
		if H > 0 {
			qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
			for i := range xs {
				xn := m.norm(xs[i], L.AttnNorm)
				qs[i], ks[i], vs[i] = mv(L.Wq, xn), mv(L.Wk, xn), mv(L.Wv, xn)
				addv(qs[i], L.Bq)
				addv(ks[i], L.Bk)
				addv(vs[i], L.Bv)
				m.headNorm(qs[i], L.QNorm, H)
				m.headNorm(ks[i], L.KNorm, KV)
				m.rope(qs[i], H, i)
				m.rope(ks[i], KV, i)
			}
			outs := make([][]float64, n)
			for i := range xs {
				o := make([]float64, H*hd)
				for h := 0; h < H; h++ {
					kh := h / (H / KV)
					sc := make([]float64, i+1)
					mx := math.Inf(-1)
					for j := 0; j <= i; j++ {
						for e := 0; e < hd; e++ {
							sc[j] += qs[i][h*hd+e] * ks[j][kh*hd+e]
						}
						sc[j] /= math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[j])
					}
					var sum float64
					for j := range sc {
						sc[j] = math.Exp(sc[j] - mx)
						sum += sc[j]
					}
					for j := range sc {
						for e := 0; e < hd; e++ {
							o[h*hd+e] += sc[j] / sum * vs[j][kh*hd+e]
						}
					}
				}
				outs[i] = mv(L.Wo, o)
				addv(outs[i], L.Bo)
			}
			for i := range xs {
				addv(xs[i], outs[i])
			}
		}
		if c.FFN[l] > 0 {
			for i := range xs {
				xn := m.norm(xs[i], L.FFNNorm)
				u := mv(L.Wup, xn)
				if L.Wgate != nil {
					g := mv(L.Wgate, xn)
					for j := range u {
						u[j] *= silu(g[j])
					}
				} else {
					for j := range u {
						u[j] = silu(u[j])
					}
				}
				down := mv(L.Wdown, u)
				addv(down, L.Bdown)
				addv(xs[i], down)
			}
		}
	}
	logits := make([][]float64, n)
	for i := range xs {
		logits[i] = mv(m.Output, m.norm(xs[i], m.OutNorm))
	}
	return logits
}

// Loss is the mean cross-entropy of targets given tokens, over the
// positions whose target is not negative.
func (m *Model) Loss(tokens, targets []int) float64 {
	logits := m.Logits(tokens)
	var sum float64
	n := 0
	for i, t := range targets {
		if t < 0 {
			continue
		}
		mx := math.Inf(-1)
		for _, v := range logits[i] {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range logits[i] {
			z += math.Exp(v - mx)
		}
		sum += mx + math.Log(z) - logits[i][t]
		n++
	}
	return sum / float64(n)
}
