package model

import (
	"fmt"

	"github.com/shear-ai/shear/runtime/internal/shape"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// State is the run state of one sequence: the KV cache and every buffer
// the forward pass needs, allocated once (llama2.c's RunState). A State is
// not safe for concurrent use; create one per goroutine.
type State struct {
	m        *Model
	ctx      int // capacity of the KV cache in tokens
	maxBatch int
	pos      int // tokens already in the cache

	x, xb   []float32 // residual stream and its normalised copy [batch × dim]
	q, k, v []float32 // projections [batch × heads·hd], [batch × kv·hd]
	att     []float32 // attention output [batch × heads·hd]
	scores  []float32 // attention scores [batch × heads × ctx]
	hb, hb2 []float32 // MLP hidden [batch × ffn]
	logits  []float32 // [batch × vocab]

	kCache, vCache [][]float32 // per layer [ctx × kv·hd]
	cos, sin       []float32   // RoPE table [ctx × ropeDim/2]
	scratch        tensor.Scratch

	// Observe, when set, sees activations as the forward pass computes
	// them (calibration statistics for pruning); nil costs nothing.
	Observe Observer
}

// Observer receives n rows of activations at one point of layer l. rows
// holds n·width values and is reused after the call returns.
type Observer func(at Point, l int, rows []float32, n, width int)

// Point names where an Observer looks.
type Point int

const (
	// ResidualIn is the residual stream entering block l; at l = Layers
	// it is the stream leaving the last block (before the output norm).
	ResidualIn Point = iota
	// WoInput is the attention output of block l, the input of Wo
	// [heads·hd], before the output projection mixes the heads.
	WoInput
	// WdownInput is the MLP's hidden activation of block l, the input of
	// Wdown [ffn].
	WdownInput
)

// NewState allocates a state for up to ctx tokens, processing at most
// maxBatch tokens per matrix product during prefill.
func (m *Model) NewState(ctx, maxBatch int) *State {
	if maxBatch < 1 {
		maxBatch = 1
	}
	c := &m.Config
	maxQ, maxKV, maxFF := 0, 0, 0
	for l := 0; l < c.Layers; l++ {
		maxQ = max(maxQ, c.Heads[l]*c.HeadDim)
		maxKV = max(maxKV, c.KVHeads[l]*c.HeadDim)
		maxFF = max(maxFF, c.FFN[l])
	}
	maxH := maxQ / c.HeadDim
	B := maxBatch
	s := &State{
		m: m, ctx: ctx, maxBatch: B,
		x: make([]float32, B*c.Dim), xb: make([]float32, B*c.Dim),
		q: make([]float32, B*maxQ), k: make([]float32, B*maxKV), v: make([]float32, B*maxKV),
		att: make([]float32, B*maxQ), scores: make([]float32, B*maxH*ctx),
		hb: make([]float32, B*maxFF), hb2: make([]float32, B*maxFF),
		logits: make([]float32, B*c.Vocab),
		kCache: make([][]float32, c.Layers), vCache: make([][]float32, c.Layers),
	}
	for l := 0; l < c.Layers; l++ {
		s.kCache[l] = make([]float32, ctx*c.KVHeads[l]*c.HeadDim)
		s.vCache[l] = make([]float32, ctx*c.KVHeads[l]*c.HeadDim)
	}
	s.cos, s.sin = m.RopeTable(ctx)
	return s
}

// NewBoundedState is NewState for sizes that come from a user or a
// request: it refuses, with an error instead of a fatal out-of-memory, a
// ctx below 1 or beyond the model's context length (CtxLen, when the model
// states one), and a state whose buffers would take more than maxBytes
// (0: no byte limit).
func (m *Model) NewBoundedState(ctx, maxBatch int, maxBytes int64) (*State, error) {
	if ctx < 1 {
		return nil, fmt.Errorf("model: context %d must be at least 1 token", ctx)
	}
	if m.CtxLen > 0 && ctx > m.CtxLen {
		return nil, fmt.Errorf("model: context %d exceeds the model's context length %d", ctx, m.CtxLen)
	}
	n, err := m.StateBytes(ctx, maxBatch)
	if err != nil {
		return nil, err
	}
	if maxBytes > 0 && n > maxBytes {
		return nil, fmt.Errorf("model: a state for %d tokens needs %d MiB, more than the %d MiB allowed", ctx, n>>20, maxBytes>>20)
	}
	return m.NewState(ctx, maxBatch), nil
}

// StateBytes is the memory NewState(ctx, maxBatch) allocates, or an error
// when the sizes overflow.
func (m *Model) StateBytes(ctx, maxBatch int) (int64, error) {
	c := &m.Config
	B := max(maxBatch, 1)
	maxQ, maxKV, maxFF, cache := 0, 0, 0, int64(0)
	for l := 0; l < c.Layers; l++ {
		maxQ = max(maxQ, c.Heads[l]*c.HeadDim)
		maxKV = max(maxKV, c.KVHeads[l]*c.HeadDim)
		maxFF = max(maxFF, c.FFN[l])
		kv, err := shape.Product(2, ctx, c.KVHeads[l], c.HeadDim)
		if err != nil {
			return 0, fmt.Errorf("model: a KV cache of %d tokens is %w", ctx, err)
		}
		cache += kv
	}
	// x, xb, q, att, k, v, hb, hb2, logits per batch row; scores per
	// batch row, head and position; the RoPE table.
	rows, err := shape.Product(B, 2*c.Dim+2*maxQ+2*maxKV+2*maxFF+c.Vocab)
	if err == nil {
		var scores, rope int64
		if scores, err = shape.Product(B, maxQ/c.HeadDim, ctx); err == nil {
			if rope, err = shape.Product(ctx, c.RopeDim); err == nil {
				return 4 * (rows + scores + rope + cache), nil
			}
		}
	}
	return 0, fmt.Errorf("model: a state of %d tokens (batch %d) is %w", ctx, B, err)
}

// Pos is the number of tokens in the cache.
func (s *State) Pos() int { return s.pos }

// Ctx is the capacity of the cache.
func (s *State) Ctx() int { return s.ctx }

// Reset empties the cache.
func (s *State) Reset() { s.pos = 0 }

// Truncate drops cached tokens from position n on (n ≤ Pos).
func (s *State) Truncate(n int) {
	if n < s.pos {
		s.pos = max(n, 0)
	}
}

// Forward appends tokens to the sequence and returns logits. With all set
// it returns len(tokens) rows of Vocab logits, else only the last row. The
// returned slice is reused by the next call.
func (s *State) Forward(tokens []int, all bool) ([]float32, error) {
	m := s.m
	if len(tokens) == 0 {
		return nil, fmt.Errorf("model: no tokens to run")
	}
	if s.pos+len(tokens) > s.ctx {
		return nil, fmt.Errorf("model: %d tokens at position %d exceed the context of %d", len(tokens), s.pos, s.ctx)
	}
	for _, t := range tokens {
		if t < 0 || t >= m.Vocab {
			return nil, fmt.Errorf("model: token id %d is outside the vocabulary (0..%d)", t, m.Vocab-1)
		}
	}
	var out []float32
	for start := 0; start < len(tokens); start += s.maxBatch {
		batch := tokens[start:min(start+s.maxBatch, len(tokens))]
		last := start+len(batch) == len(tokens)
		logits := s.forwardBatch(batch, all || last, all)
		if all {
			if out == nil && len(tokens) <= s.maxBatch {
				out = logits
			} else {
				out = append(out, logits...)
			}
		} else if last {
			out = logits
		}
	}
	return out, nil
}

// forwardBatch runs n ≤ maxBatch tokens at positions pos..pos+n-1. It
// computes logits for every row (all) or the last row only (want && !all).
func (s *State) forwardBatch(tokens []int, want, all bool) []float32 {
	m, c := s.m, &s.m.Config
	n, d, hd := len(tokens), c.Dim, c.HeadDim
	x, xb := s.x[:n*d], s.xb[:n*d]

	for i, t := range tokens {
		m.Embed.Row(t, x[i*d:(i+1)*d])
	}
	for l := range m.Blocks {
		L := &m.Blocks[l]
		H, KV, ff := c.Heads[l], c.KVHeads[l], c.FFN[l]
		s.observe(ResidualIn, l, x, n, d)
		if H > 0 {
			// Attention: x += Wo · attention(rope(Wq·x̂), rope(Wk·x̂), Wv·x̂), x̂ = rmsnorm(x).
			qd, kvd := H*hd, KV*hd
			q, k, v := s.q[:n*qd], s.k[:n*kvd], s.v[:n*kvd]
			RMSNormRows(xb, x, L.AttnNorm, c.NormEps, nil)
			L.Wq.MatMul(q, xb, n, &s.scratch)
			L.Wk.MatMul(k, xb, n, &s.scratch)
			L.Wv.MatMul(v, xb, n, &s.scratch)
			AddBias(q, L.Bq)
			AddBias(k, L.Bk)
			AddBias(v, L.Bv)
			if L.QNorm != nil { // Qwen3: each head of q and k normalised before RoPE
				RMSNormRows(q, q, L.QNorm, c.NormEps, nil)
				RMSNormRows(k, k, L.KNorm, c.NormEps, nil)
			}
			half := c.RopeDim / 2
			for i := 0; i < n; i++ {
				p := s.pos + i
				cs, sn := s.cos[p*half:(p+1)*half], s.sin[p*half:(p+1)*half]
				c.Rope(q[i*qd:(i+1)*qd], H, cs, sn)
				c.Rope(k[i*kvd:(i+1)*kvd], KV, cs, sn)
			}
			copy(s.kCache[l][s.pos*kvd:], k)
			copy(s.vCache[l][s.pos*kvd:], v)
			att := s.att[:n*qd]
			simd.Attention(att, q, s.kCache[l], s.vCache[l], s.scores, n, s.pos, H, KV, hd, s.ctx)
			s.observe(WoInput, l, att, n, qd)
			L.Wo.MatMul(xb, att, n, &s.scratch)
			AddBias(xb, L.Bo)
			simd.Add(x, x, xb)
		}
		if ff > 0 {
			// MLP: x += Wdown · (silu(Wgate·x̂) ⊙ Wup·x̂), x̂ = rmsnorm(x).
			hb, hb2 := s.hb[:n*ff], s.hb2[:n*ff]
			RMSNormRows(xb, x, L.FFNNorm, c.NormEps, nil)
			L.Wup.MatMul(hb2, xb, n, &s.scratch)
			if L.Wgate != nil {
				L.Wgate.MatMul(hb, xb, n, &s.scratch)
				simd.SwiGLU(hb, hb, hb2)
			} else {
				simd.SiLU(hb2)
				hb = hb2
			}
			s.observe(WdownInput, l, hb, n, ff)
			L.Wdown.MatMul(xb, hb, n, &s.scratch)
			AddBias(xb, L.Bdown)
			simd.Add(x, x, xb)
		}
	}
	s.observe(ResidualIn, len(m.Blocks), x, n, d)
	s.pos += n
	if !want {
		return nil
	}
	if !all {
		x, xb, n = x[(n-1)*d:], xb[:d], 1
	}
	RMSNormRows(xb[:n*d], x[:n*d], m.OutNorm, c.NormEps, nil)
	logits := s.logits[:n*c.Vocab]
	m.Output.MatMul(logits, xb, n, &s.scratch)
	return logits
}

func (s *State) observe(at Point, l int, rows []float32, n, width int) {
	if s.Observe != nil {
		s.Observe(at, l, rows[:n*width], n, width)
	}
}

// AddBias adds b to every len(b)-wide row of x (nothing when b is nil).
func AddBias(x, b []float32) {
	if b == nil {
		return
	}
	w := len(b)
	for i := 0; i < len(x)/w; i++ {
		simd.Add(x[i*w:(i+1)*w], x[i*w:(i+1)*w], b)
	}
}
