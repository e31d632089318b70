package train

import (
	"unsafe"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// Memory is what a trainer holds, in bytes, by purpose. Estimate gives it
// before anything is allocated (to choose between full-rank and LoRA
// training within a budget); Trainer.Memory counts the buffers a trainer
// really holds, so tests can check the two agree and that LoRA training
// keeps no float32 copy and no gradient of the frozen base.
type Memory struct {
	Base        int64 `json:"base"`        // the model's weights as stored (full training: the float32 master copy)
	BaseGrads   int64 `json:"base_grads"`  // gradients of base weights (full training, or BaseGrads)
	Adapter     int64 `json:"adapter"`     // LoRA A, B and their gradients
	Optimizer   int64 `json:"optimizer"`   // AdamW moments of the trainable tensors
	Activations int64 `json:"activations"` // what the forward keeps for the backward: block inputs, activations
	Scratch     int64 `json:"scratch"`     // logits chunk, gradient scratch, attention tiles
}

// Total is the sum of every part.
func (m Memory) Total() int64 {
	return m.Base + m.BaseGrads + m.Adapter + m.Optimizer + m.Activations + m.Scratch
}

// Add returns the part-wise sum of m and o.
func (m Memory) Add(o Memory) Memory {
	return Memory{m.Base + o.Base, m.BaseGrads + o.BaseGrads, m.Adapter + o.Adapter, m.Optimizer + o.Optimizer,
		m.Activations + o.Activations, m.Scratch + o.Scratch}
}

// WeightBytes is the storage of a model of shape c with its matrices in
// dt (vectors are float32; a tied output is stored once).
func WeightBytes(c *model.Config, dt tensor.DType) int64 {
	var n int64
	each := func(k model.Kind, l int) {
		in := k.Info()
		if !in.Present(c, l) {
			return
		}
		rows, cols := in.Shape(c, l)
		if !in.Matrix {
			n += 4 * int64(rows)
			return
		}
		m := tensor.Matrix{Rows: rows, Cols: cols, DType: dt}
		n += int64(m.Bytes())
	}
	for k := range model.Kinds {
		if in := &model.Kinds[k]; in.Block {
			for l := 0; l < c.Layers; l++ {
				each(model.Kind(k), l)
			}
		} else {
			each(model.Kind(k), -1)
		}
	}
	return n
}

// ModelBytes is the storage m's weights hold now.
func ModelBytes(m *model.Model) int64 {
	var n int64
	for _, r := range m.Tensors() {
		if r.Mat != nil {
			n += int64((*r.Mat).Bytes())
		} else {
			n += 4 * int64(len(*r.Vec))
		}
	}
	return n
}

// EstimateFor is Estimate for training the loaded model m: its weights
// counted as they are stored now (full training: as float32).
func EstimateFor(m *model.Model, opt Options) Memory {
	e := Estimate(&m.Config, tensor.F32, opt)
	if !opt.Full {
		e.Base = ModelBytes(m)
	}
	return e
}

// Estimate is the memory New(m, opt) followed by training steps with
// AdamW would hold for a model of shape c stored in dt, computed from the
// shape alone (no model is loaded or allocated).
func Estimate(c *model.Config, dt tensor.DType, opt Options) Memory {
	var e Memory
	B, T := int64(opt.Batch), int64(opt.Ctx)
	N, d := B*T, int64(c.Dim)
	f := func(n int64) int64 { return 4 * n }
	if opt.Full {
		dt = tensor.F32
	}
	e.Base = WeightBytes(c, dt)
	rank, dropout := int64(0), false
	var targets [lora.NumTargets]bool
	lo := opt.LoRA
	if opt.Adapter != nil {
		lo = opt.Adapter.Config
	}
	if !opt.Full && !opt.Frozen {
		rank, dropout = int64(lo.Rank), lo.Dropout > 0
		for _, tg := range lo.Targets {
			targets[tg] = true
		}
	}
	recompute := opt.Frozen || opt.Recompute == RecomputeOn ||
		(opt.Recompute == RecomputeAuto && storedActivations(c, opt.Batch, opt.Ctx, int(rank), dropout) > RecomputeAbove)
	W := widths(c)
	grads := opt.Full || opt.BaseGrads
	hd := int64(c.HeadDim)
	// Activations of one block as New plans them: without recomputation
	// each block has its own, with it one set sized for the widest block.
	block := func(qd, kvd, ff, heads, kvHeads int64, attn, mlp, gated bool) int64 {
		n := N * d // xMid
		in := map[lora.Target]int64{}
		if attn {
			n += N*d + N + 2*N*qd + 2*N*kvd + B*T*heads*T
			if c.QKNorm {
				n += N*(qd+kvd) + N*(heads+kvHeads)
			}
			in[lora.Q], in[lora.K], in[lora.V], in[lora.O] = d, d, d, qd
		}
		if mlp {
			n += N*d + N + 2*N*ff
			in[lora.Up], in[lora.Down] = d, ff
			if gated {
				n += N * ff
				in[lora.Gate] = d
			}
		}
		for tg, cols := range in {
			if targets[tg] {
				n += N * rank
				if dropout {
					n += 2 * N * cols
				}
			}
		}
		return f(n)
	}
	if recompute {
		e.Activations += block(int64(W.qd), int64(W.kvd), int64(W.ff), int64(W.heads), int64(W.kvHeads), W.qd > 0, W.ff > 0, c.Gated)
	}
	var scratchLoRA bool
	for l := 0; l < c.Layers; l++ {
		qd, kvd, ff := int64(c.Heads[l])*hd, int64(c.KVHeads[l])*hd, int64(c.FFN[l])
		if !recompute {
			e.Activations += block(qd, kvd, ff, int64(c.Heads[l]), int64(c.KVHeads[l]), qd > 0, ff > 0, c.Gated)
		}
		if !opt.Frozen || opt.KeepInputs {
			e.Activations += f(N * d) // the block's input
		}
		if opt.ChannelTaylor {
			e.Scratch += 2 * 8 * B * (int64(c.KVHeads[l]) + ff)
		}
		each := func(tg lora.Target, rows, cols int64, bias bool) {
			if grads {
				e.BaseGrads += f(rows * cols)
				if bias {
					e.BaseGrads += f(rows)
				}
			}
			if targets[tg] {
				e.Adapter += 2 * f(rank*cols+rows*rank) // A, B and their gradients
				e.Optimizer += 2 * f(rank*cols+rows*rank)
				scratchLoRA = true
			}
		}
		if qd > 0 {
			each(lora.Q, qd, d, c.QKVBias)
			each(lora.K, kvd, d, c.QKVBias)
			each(lora.V, kvd, d, c.QKVBias)
			each(lora.O, d, qd, c.OutBias)
			if opt.Full {
				e.BaseGrads += f(d)
				if c.QKNorm {
					e.BaseGrads += 2 * f(hd)
				}
			}
		}
		if ff > 0 {
			if c.Gated {
				each(lora.Gate, ff, d, false)
			}
			each(lora.Up, ff, d, false)
			each(lora.Down, d, ff, c.OutBias)
			if opt.Full {
				e.BaseGrads += f(d)
			}
		}
	}
	// Gradient scratch shared by the blocks.
	if W.qd > 0 {
		e.Scratch += f(2*N*int64(W.qd) + 2*N*int64(W.kvd))
		if c.QKNorm {
			e.Scratch += f(N*int64(W.qd) + N*int64(W.kvd))
		}
		if !opt.Frozen {
			th, tt := T*hd, T*T
			e.Scratch += int64(simd.Threads()+1) * f(7*th+2*tt) // attention tiles
		}
	}
	if W.ff > 0 {
		e.Scratch += f(2 * N * int64(W.ff))
		if c.Gated {
			e.Scratch += f(N * int64(W.ff))
		}
	}
	if scratchLoRA {
		e.Scratch += f(N*rank + N*int64(max(c.Dim, W.qd, W.ff)))
	}
	V := int64(c.Vocab)
	if opt.Full {
		e.BaseGrads += f(d) + f(V*d) // final norm; embedding (the output's when tied)
		if !c.Tied {
			e.BaseGrads += f(V * d)
		}
		e.Optimizer = 2 * e.BaseGrads
	}
	e.Activations += f(2*N*d + N)                        // the final residual, its norm and scale
	e.Scratch += f(logitChunk*V) + f(T*int64(c.RopeDim)) // logits chunk; RoPE cos and sin
	if opt.Frozen {
		e.Scratch += f(N * d)
	} else {
		e.Scratch += 3 * f(N*d) // dx, dxn, a row scratch
		if recompute {
			e.Scratch += f(N * d)
		}
	}
	return e
}

// Memory counts the buffers the trainer holds and the model's weights
// (each buffer once, however many blocks share it). Attention tiles are
// counted once the first backward pass has made them. The optimizer's
// moments are not the trainer's: add AdamW.Bytes.
func (t *Trainer) Memory() Memory {
	var m Memory
	seen := map[*float32]bool{}
	count := func(dst *int64, s []float32) {
		if cap(s) == 0 {
			return
		}
		p := unsafe.SliceData(s)
		if seen[p] {
			return
		}
		seen[p] = true
		*dst += 4 * int64(cap(s))
	}
	m.Base = ModelBytes(t.M)
	acts := func(ss ...[]float32) {
		for _, s := range ss {
			count(&m.Activations, s)
		}
	}
	scratch := func(ss ...[]float32) {
		for _, s := range ss {
			count(&m.Scratch, s)
		}
	}
	linear := func(l *linear) {
		if l == nil {
			return
		}
		count(&m.BaseGrads, l.GW)
		count(&m.BaseGrads, l.GBias)
		if l.L != nil {
			count(&m.Adapter, l.L.A)
			count(&m.Adapter, l.L.B)
			count(&m.Adapter, l.GA)
			count(&m.Adapter, l.GB)
		}
		acts(l.ax, l.xd, l.mask)
		scratch(l.dax, l.tmp)
	}
	for l := range t.layers {
		S := &t.layers[l]
		for _, lin := range S.linears() {
			linear(lin)
		}
		for _, g := range [][]float32{S.gAttnNorm, S.gFFNNorm, S.gQNorm, S.gKNorm} {
			count(&m.BaseGrads, g)
		}
		acts(S.xIn, S.qPre, S.kPre, S.qInv, S.kInv, S.xn1, S.inv1, S.qb, S.kb, S.vb, S.atto,
			S.xMid, S.xn2, S.inv2, S.g, S.u, S.h, S.att.probs)
		scratch(S.dqPre, S.dkPre, S.dq, S.dk, S.dv, S.datto, S.dg, S.du, S.dh)
		m.Scratch += 8 * int64(len(S.tO)+len(S.tDown)+len(S.tO2)+len(S.tDown2))
		if S.att.tiles != nil && S.att.tiles.free != nil && l == 0 {
			th, tt := t.T*S.att.hd, t.T*t.T
			m.Scratch += int64(cap(S.att.tiles.free)) * 4 * int64(7*th+2*tt)
		}
	}
	linear(t.out)
	if !t.M.Tied {
		count(&m.BaseGrads, t.gEmbed)
	}
	count(&m.BaseGrads, t.gOutNorm)
	acts(t.xOut, t.xnf, t.invf)
	scratch(t.xRe, t.dx, t.dxn, t.logits, t.cos, t.sin, t.tmpRows, t.dlogits)
	return m
}

// Bytes is the size of the optimizer's moments.
func (o *AdamW) Bytes() int64 {
	var n int64
	for k := range o.M {
		n += 4 * int64(len(o.M[k])+len(o.V[k]))
	}
	return n
}
