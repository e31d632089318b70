// Package train is Shear's training engine: the backward pass of every op
// of the LLaMA block (each beside its forward, ops.go), LoRA and full
// training, AdamW with clipping, accumulation and a warm-up + cosine
// schedule, data loading and resumable checkpoints.
//
// Goroutines: a Trainer (with its AdamW, Loader and checkpoints) belongs
// to one goroutine. Full training writes its Model's weights; LoRA
// training writes only its Adapter and reads the base, so several LoRA
// Trainers may share one base Model, though not one Adapter
// (TestLoRATrainersShareBase, under the race detector in make test-race). A teacher set by SetTeacher is run by its student:
// give each student its own teacher Trainer.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// Options configure a Trainer.
type Options struct {
	Full  bool        // train every weight (fp32 master copy); else LoRA
	LoRA  lora.Config // adapter shape when !Full
	Batch int         // sequences per micro-batch
	Ctx   int         // tokens per sequence
	Seed  uint64      // adapter init and dropout
	// BaseGrads also computes the gradients of the frozen base matrices
	// (read with WeightGrad) in LoRA training; pruning needs them.
	BaseGrads bool
	// Adapter, when set, is trained instead of a fresh one (LoRA only).
	Adapter *lora.Adapter
	// Frozen makes a forward-only trainer: no adapter, no gradients, the
	// weights left as they are (a distillation teacher, see SetTeacher).
	Frozen bool
}

// Param is one trainable tensor and its gradient.
type Param struct {
	Name  string
	W, G  []float32
	Decay bool // weight decay applies (matrices, not norms or biases)
}

// layerState holds one block's linears, norm gradients and saved activations.
type layerState struct {
	q, k, v, o, gate, up, down *linear
	gAttnNorm, gFFNNorm        []float32
	gQNorm, gKNorm             []float32 // full training with per-head q/k norms

	// Per-head q/k norms (Qwen3): the projections before the norm, each
	// head's scale, and the gradient with respect to the projections.
	qPre, kPre, qInv, kInv []float32
	dqPre, dkPre           []float32

	xIn, xn1, inv1    []float32
	qb, kb, vb, atto  []float32
	xMid, xn2, inv2   []float32
	g, u, h           []float32
	att               attention
	dq, dk, dv, datto []float32
	dg, du, dh        []float32
}

// Trainer runs forward and backward passes over micro-batches of Batch
// sequences of Ctx tokens, accumulating gradients until ZeroGrad.
type Trainer struct {
	M       *model.Model
	Adapter *lora.Adapter // nil in full training
	opt     Options
	B, T, N int

	layers    []layerState
	out       *linear
	gEmbed    []float32 // full training: embedding gradient (shared with the output when tied)
	gOutNorm  []float32
	xOut, xnf []float32
	invf      []float32
	dx, dxn   []float32 // residual-stream gradient and a scratch of the same size
	logits    []float32 // [chunk × vocab]
	cos, sin  []float32
	tmpRows   []float32
	scratch   tensor.Scratch
	pcg       *rand.PCG // dropout stream; saved in checkpoints
	rng       *rand.Rand
	params    []Param

	teacher      *Trainer // distillation (SetTeacher); nil: plain cross-entropy
	lambda, temp float32
	kl           float64   // summed KL of the last Step
	dlogits      []float32 // [2 × vocab] scratch of distillRow
}

const logitChunk = 64 // rows of logits held at once

// New prepares m for training. Full training converts every weight to
// float32 in place (the master copy); LoRA training keeps the base as it
// is (f16 or f32) and creates a fresh PEFT-initialised adapter.
func New(m *model.Model, opt Options) (*Trainer, error) {
	if opt.Batch < 1 || opt.Ctx < 2 {
		return nil, fmt.Errorf("train: batch %d and ctx %d must be ≥ 1 and ≥ 2", opt.Batch, opt.Ctx)
	}
	pcg := rand.NewPCG(opt.Seed, 0xd209)
	t := &Trainer{M: m, opt: opt, B: opt.Batch, T: opt.Ctx, N: opt.Batch * opt.Ctx, pcg: pcg, rng: rand.New(pcg)}
	if opt.Full && opt.Frozen {
		return nil, fmt.Errorf("train: a frozen trainer cannot train every weight")
	}
	if opt.Full {
		if err := m.Convert(tensor.F32); err != nil {
			return nil, err
		}
	} else if !opt.Frozen {
		for _, r := range m.Matrices() {
			if w := *r.Mat; w.DType != tensor.F32 && w.DType != tensor.F16 {
				return nil, fmt.Errorf("train: LoRA needs an f16 or f32 base, %s is %s (load with --dtype f16)", r.Name, w.DType)
			}
		}
		a := opt.Adapter
		if a == nil {
			var err error
			if a, err = lora.New(m, opt.LoRA, opt.Seed); err != nil {
				return nil, err
			}
		}
		t.Adapter = a
	}
	c := &m.Config
	N, d := t.N, c.Dim
	drop := float32(0)
	if t.Adapter != nil {
		drop = t.Adapter.Dropout
	}
	grads := opt.Full || opt.BaseGrads
	mod := func(l int, tg lora.Target) *lora.Module {
		if t.Adapter == nil {
			return nil
		}
		return t.Adapter.Modules[l][tg]
	}
	t.layers = make([]layerState, c.Layers)
	for l := range t.layers {
		L, S := &m.Blocks[l], &t.layers[l]
		qd, kvd, ff := c.Heads[l]*c.HeadDim, c.KVHeads[l]*c.HeadDim, c.FFN[l]
		S.xIn, S.xMid = make([]float32, N*d), make([]float32, N*d)
		if qd > 0 {
			S.q = newLinear(L.Wq, L.Bq, mod(l, lora.Q), drop, grads, N)
			S.k = newLinear(L.Wk, L.Bk, mod(l, lora.K), drop, grads, N)
			S.v = newLinear(L.Wv, L.Bv, mod(l, lora.V), drop, grads, N)
			S.o = newLinear(L.Wo, nil, mod(l, lora.O), drop, grads, N)
			S.xn1, S.inv1 = make([]float32, N*d), make([]float32, N)
			S.qb, S.kb, S.vb, S.atto = make([]float32, N*qd), make([]float32, N*kvd), make([]float32, N*kvd), make([]float32, N*qd)
			S.dq, S.dk, S.dv, S.datto = make([]float32, N*qd), make([]float32, N*kvd), make([]float32, N*kvd), make([]float32, N*qd)
			S.att = attention{B: t.B, T: t.T, H: c.Heads[l], KV: c.KVHeads[l], hd: c.HeadDim,
				q: S.qb, k: S.kb, v: S.vb, o: S.atto, probs: make([]float32, t.B*t.T*c.Heads[l]*t.T),
				dq: S.dq, dk: S.dk, dv: S.dv, do: S.datto}
			if opt.Full {
				S.gAttnNorm = make([]float32, d)
			}
			if L.QNorm != nil {
				S.qPre, S.kPre, S.dqPre, S.dkPre = make([]float32, N*qd), make([]float32, N*kvd), make([]float32, N*qd), make([]float32, N*kvd)
				S.qInv, S.kInv = make([]float32, N*c.Heads[l]), make([]float32, N*c.KVHeads[l])
				if opt.Full {
					S.gQNorm, S.gKNorm = make([]float32, c.HeadDim), make([]float32, c.HeadDim)
				}
			}
		}
		if ff > 0 {
			if L.Wgate != nil {
				S.gate = newLinear(L.Wgate, nil, mod(l, lora.Gate), drop, grads, N)
				S.g, S.dg = make([]float32, N*ff), make([]float32, N*ff)
			}
			S.up = newLinear(L.Wup, nil, mod(l, lora.Up), drop, grads, N)
			S.down = newLinear(L.Wdown, nil, mod(l, lora.Down), drop, grads, N)
			S.xn2, S.inv2 = make([]float32, N*d), make([]float32, N)
			S.u, S.h, S.du, S.dh = make([]float32, N*ff), make([]float32, N*ff), make([]float32, N*ff), make([]float32, N*ff)
			if opt.Full {
				S.gFFNNorm = make([]float32, d)
			}
		}
	}
	t.out = newLinear(m.Output, nil, nil, 0, opt.Full, logitChunk)
	if opt.Full {
		t.gOutNorm = make([]float32, d)
		if m.Tied {
			t.gEmbed = t.out.GW
		} else {
			t.gEmbed = make([]float32, c.Vocab*d)
		}
	}
	t.xOut, t.xnf, t.invf = make([]float32, N*d), make([]float32, N*d), make([]float32, N)
	t.dx, t.dxn = make([]float32, N*d), make([]float32, N*d)
	t.logits = make([]float32, logitChunk*c.Vocab)
	t.cos, t.sin = m.RopeTable(t.T)
	t.params = t.collectParams()
	return t, nil
}

// linears are the layer's projections in lora.Target order (nil where absent).
func (S *layerState) linears() [lora.NumTargets]*linear {
	return [lora.NumTargets]*linear{S.q, S.k, S.v, S.o, S.gate, S.up, S.down}
}

func (t *Trainer) collectParams() []Param {
	var ps []Param
	add := func(name string, w, g []float32, decay bool) {
		if g != nil {
			ps = append(ps, Param{Name: name, W: w, G: g, Decay: decay})
		}
	}
	m := t.M
	if t.opt.Full {
		add(model.TokenEmbd.Name(-1), m.Embed.F32, t.gEmbed, true)
		add(model.OutputNorm.Name(-1), m.OutNorm, t.gOutNorm, false)
		if !m.Tied {
			add(model.Output.Name(-1), m.Output.F32, t.out.GW, true)
		}
	}
	for l := range t.layers {
		S, L := &t.layers[l], &m.Blocks[l]
		add(model.AttnNorm.Name(l), L.AttnNorm, S.gAttnNorm, false)
		add(model.FFNNorm.Name(l), L.FFNNorm, S.gFFNNorm, false)
		add(model.AttnQNorm.Name(l), L.QNorm, S.gQNorm, false)
		add(model.AttnKNorm.Name(l), L.KNorm, S.gKNorm, false)
		for tg, lin := range S.linears() {
			if lin == nil {
				continue
			}
			weight := lora.Target(tg).Kind()
			base := model.BlockPrefix(l) + weight.Info().Base
			if t.opt.Full {
				add(weight.Name(l), lin.W.F32, lin.GW, true)
				add(base+".bias", lin.Bias, lin.GBias, false)
			}
			if lin.L != nil {
				add(base+".lora_a", lin.L.A, lin.GA, true)
				add(base+".lora_b", lin.L.B, lin.GB, true)
			}
		}
	}
	return ps
}

// WeightGrad returns the gradient accumulated for a block matrix or bias
// named as in GGUF ("blk.3.ffn_up.weight", "blk.0.attn_q.bias"); nil when
// not computed (see Options.BaseGrads).
func (t *Trainer) WeightGrad(name string) []float32 {
	l, base, suffix, err := model.SplitName(name)
	if err != nil || l < 0 || l >= len(t.layers) {
		return nil
	}
	k, ok := model.KindOf(base, "weight", true)
	tg, isTarget := lora.TargetOf(k)
	if !ok || !isTarget {
		return nil
	}
	lin := t.layers[l].linears()[tg]
	switch {
	case lin == nil:
		return nil
	case suffix == "bias":
		return lin.GBias
	case suffix == "weight":
		return lin.GW
	}
	return nil
}

// ZeroWeightGrads clears the base-matrix gradients of BaseGrads.
func (t *Trainer) ZeroWeightGrads() {
	for l := range t.layers {
		for _, lin := range t.layers[l].linears() {
			if lin != nil {
				clear(lin.GW)
				clear(lin.GBias)
			}
		}
	}
}

// SetTeacher turns on knowledge distillation in Step: each scored position
// contributes (1−λ)·CE(s, target) + λ·τ²·KL(softmax(t/τ) ‖ softmax(s/τ))
// instead of CE, where s are this model's logits and t the logits of
// teacher (a Frozen trainer of the same batch shape and vocabulary, run
// forward on the same tokens). Loss, and so every dev loss, stays plain
// cross-entropy. A nil teacher or λ = 0 turns distillation off.
func (t *Trainer) SetTeacher(teacher *Trainer, lambda, temp float64) error {
	if teacher == nil || lambda == 0 {
		t.teacher = nil
		return nil
	}
	if !teacher.opt.Frozen {
		return fmt.Errorf("train: the teacher must be a Frozen trainer")
	}
	if teacher.B != t.B || teacher.T != t.T || teacher.M.Vocab != t.M.Vocab {
		return fmt.Errorf("train: teacher shape %d×%d (vocab %d) differs from the student's %d×%d (vocab %d)",
			teacher.B, teacher.T, teacher.M.Vocab, t.B, t.T, t.M.Vocab)
	}
	if lambda < 0 || lambda > 1 || !(temp > 0) {
		return fmt.Errorf("train: distillation weight %g must be in [0, 1] and temperature %g > 0", lambda, temp)
	}
	t.teacher, t.lambda, t.temp = teacher, float32(lambda), float32(temp)
	if t.dlogits == nil {
		t.dlogits = make([]float32, 2*t.M.Vocab)
	}
	return nil
}

// KL is the mean distillation term KL(p_t ‖ p_s) at temperature τ over
// the scored positions of the last Step (0 without a teacher).
func (t *Trainer) KL() float64 { return t.kl }

// Params returns the trainable tensors with their gradients.
func (t *Trainer) Params() []Param { return t.params }

// ZeroGrad clears every gradient.
func (t *Trainer) ZeroGrad() {
	for _, p := range t.params {
		clear(p.G)
	}
}

// Step runs forward and backward on one micro-batch and accumulates the
// gradient of (mean loss × weight). tokens and targets hold Batch×Ctx ids;
// a negative target is ignored. Each sequence starts at position 0. It
// returns the mean loss and the number of scored targets.
func (t *Trainer) Step(tokens, targets []int, weight float32) (float64, int, error) {
	return t.run(tokens, targets, weight, true)
}

// Loss runs the forward pass only (no dropout) and returns the mean loss
// and the number of scored targets.
func (t *Trainer) Loss(tokens, targets []int) (float64, int, error) {
	return t.run(tokens, targets, 0, false)
}

func (t *Trainer) run(tokens, targets []int, weight float32, train bool) (float64, int, error) {
	if len(tokens) != t.N || len(targets) != t.N {
		return 0, 0, fmt.Errorf("train: micro-batch needs %d tokens and targets, got %d and %d", t.N, len(tokens), len(targets))
	}
	count := 0
	for i, tok := range tokens {
		if tok < 0 || tok >= t.M.Vocab || targets[i] >= t.M.Vocab {
			return 0, 0, fmt.Errorf("train: token %d or target %d outside the vocabulary", tok, targets[i])
		}
		if targets[i] >= 0 {
			count++
		}
	}
	if count == 0 {
		return 0, 0, nil
	}
	var rng *rand.Rand
	if train {
		rng = t.rng
	}
	distill := train && t.teacher != nil
	if distill {
		t.teacher.forward(tokens, nil)
	}
	t.forward(tokens, rng)
	loss := t.head(targets, weight/float32(count), train, distill)
	if train {
		t.backward(tokens)
	}
	t.kl /= float64(count)
	return loss / float64(count), count, nil
}

// Logits runs the forward pass (no dropout) and returns all Batch×Ctx
// rows of logits in a new slice.
func (t *Trainer) Logits(tokens []int) ([]float32, error) {
	if len(tokens) != t.N {
		return nil, fmt.Errorf("train: need %d tokens, got %d", t.N, len(tokens))
	}
	t.forward(tokens, nil)
	out := make([]float32, t.N*t.M.Vocab)
	t.out.W.MatMul(out, t.xnf, t.N, &t.scratch)
	return out, nil
}

// forward runs the blocks, saving what the backward pass needs.
func (t *Trainer) forward(tokens []int, rng *rand.Rand) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	x := t.xOut // the residual stream; each layer saves its input
	for i, tok := range tokens {
		m.Embed.Row(tok, x[i*d:(i+1)*d])
	}
	for l := range t.layers {
		S, L := &t.layers[l], &m.Blocks[l]
		copy(S.xIn, x)
		if S.q != nil {
			rmsnormForward(S.xn1, S.inv1, x, L.AttnNorm, N, d, c.NormEps)
			S.q.forward(S.qb, S.xn1, N, &t.scratch, rng)
			S.k.forward(S.kb, S.xn1, N, &t.scratch, rng)
			S.v.forward(S.vb, S.xn1, N, &t.scratch, rng)
			if L.QNorm != nil {
				copy(S.qPre, S.qb)
				copy(S.kPre, S.kb)
				model.RMSNormRows(S.qb, S.qPre, L.QNorm, c.NormEps, S.qInv)
				model.RMSNormRows(S.kb, S.kPre, L.KNorm, c.NormEps, S.kInv)
			}
			ropeForward(c, S.qb, N, t.T, c.Heads[l], t.cos, t.sin)
			ropeForward(c, S.kb, N, t.T, c.KVHeads[l], t.cos, t.sin)
			S.att.forward()
			S.o.forward(t.dxn, S.atto, N, &t.scratch, rng)
			simd.Add(x, x, t.dxn)
		}
		copy(S.xMid, x)
		if S.up != nil {
			rmsnormForward(S.xn2, S.inv2, x, L.FFNNorm, N, d, c.NormEps)
			S.up.forward(S.u, S.xn2, N, &t.scratch, rng)
			if S.gate != nil {
				S.gate.forward(S.g, S.xn2, N, &t.scratch, rng)
				swigluForward(S.h, S.g, S.u)
			} else {
				siluForward(S.h, S.u)
			}
			S.down.forward(t.dxn, S.h, N, &t.scratch, rng)
			simd.Add(x, x, t.dxn)
		}
	}
	rmsnormForward(t.xnf, t.invf, x, m.OutNorm, N, d, c.NormEps)
}

// head computes logits chunk by chunk, the summed cross-entropy, and
// (train) the gradient of the final norm's output into t.dxn, without
// ever holding all N×Vocab logits. With distill the teacher's logits
// (its forward already run) are computed chunk by chunk beside them.
func (t *Trainer) head(targets []int, scale float32, train, distill bool) float64 {
	V, d := t.M.Vocab, t.M.Dim
	var loss float64
	t.kl = 0
	for r0 := 0; r0 < t.N; r0 += logitChunk {
		n := min(logitChunk, t.N-r0)
		logits := t.logits[:n*V]
		xn := t.xnf[r0*d : (r0+n)*d]
		t.out.W.MatMul(logits, xn, n, &t.scratch)
		var tlogits []float32
		if distill {
			T := t.teacher
			td := T.M.Dim
			tlogits = T.logits[:n*V]
			T.out.W.MatMul(tlogits, T.xnf[r0*td:(r0+n)*td], n, &T.scratch)
		}
		for i := 0; i < n; i++ {
			row := logits[i*V : (i+1)*V]
			if tg := targets[r0+i]; tg >= 0 && distill {
				ce, kl := distillRow(row, tlogits[i*V:(i+1)*V], t.dlogits, tg, scale, t.lambda, t.temp)
				loss += ce
				t.kl += kl
			} else if tg >= 0 {
				loss += crossEntropy(row, tg, scale)
			} else {
				clear(row)
			}
		}
		if train {
			t.out.backward(t.dxn[r0*d:(r0+n)*d], logits, xn, n)
		}
	}
	return loss
}

// backward propagates from the final norm's output gradient (t.dxn) to
// every parameter, in reverse layer order.
func (t *Trainer) backward(tokens []int) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	dx := t.dx
	clear(dx)
	rmsnormBackward(dx, t.gOutNorm, t.dxn, t.xOut, m.OutNorm, t.invf, N, d)
	for l := len(t.layers) - 1; l >= 0; l-- {
		S, L := &t.layers[l], &m.Blocks[l]
		if S.up != nil {
			// x = xMid + down(h): dh = dx·Wdown; the MLP input gradient flows into dx.
			S.down.backward(S.dh, dx, S.h, N)
			if S.gate != nil {
				swigluBackward(S.dg, S.du, S.dh, S.g, S.u)
				S.gate.backward(t.dxn, S.dg, S.xn2, N)
				tmp := t.scratchRows()
				S.up.backward(tmp, S.du, S.xn2, N)
				simd.Add(t.dxn, t.dxn, tmp)
			} else {
				siluBackward(S.du, S.dh, S.u)
				S.up.backward(t.dxn, S.du, S.xn2, N)
			}
			rmsnormBackward(dx, S.gFFNNorm, t.dxn, S.xMid, L.FFNNorm, S.inv2, N, d)
		}
		if S.q != nil {
			S.o.backward(S.datto, dx, S.atto, N)
			S.att.backwardPass()
			ropeBackward(c, S.dq, N, t.T, c.Heads[l], t.cos, t.sin)
			ropeBackward(c, S.dk, N, t.T, c.KVHeads[l], t.cos, t.sin)
			if L.QNorm != nil {
				// Through each head's norm back to the projection outputs.
				clear(S.dqPre)
				clear(S.dkPre)
				rmsnormBackward(S.dqPre, S.gQNorm, S.dq, S.qPre, L.QNorm, S.qInv, N*c.Heads[l], c.HeadDim)
				rmsnormBackward(S.dkPre, S.gKNorm, S.dk, S.kPre, L.KNorm, S.kInv, N*c.KVHeads[l], c.HeadDim)
				copy(S.dq, S.dqPre)
				copy(S.dk, S.dkPre)
			}
			S.q.backward(t.dxn, S.dq, S.xn1, N)
			tmp := t.scratchRows()
			S.k.backward(tmp, S.dk, S.xn1, N)
			simd.Add(t.dxn, t.dxn, tmp)
			S.v.backward(tmp, S.dv, S.xn1, N)
			simd.Add(t.dxn, t.dxn, tmp)
			rmsnormBackward(dx, S.gAttnNorm, t.dxn, S.xIn, L.AttnNorm, S.inv1, N, d)
		}
	}
	if t.gEmbed != nil {
		for i, tok := range tokens {
			simd.Add(t.gEmbed[tok*d:(tok+1)*d], t.gEmbed[tok*d:(tok+1)*d], dx[i*d:(i+1)*d])
		}
	}
}

// scratchRows is an N×dim buffer free during the backward of one block.
func (t *Trainer) scratchRows() []float32 {
	if t.tmpRows == nil {
		t.tmpRows = make([]float32, t.N*t.M.Dim)
	}
	return t.tmpRows
}

// GradNorm is the global L2 norm of all gradients.
func (t *Trainer) GradNorm() float64 {
	var ss float64
	for _, p := range t.params {
		for _, g := range p.G {
			ss += float64(g) * float64(g)
		}
	}
	return math.Sqrt(ss)
}
