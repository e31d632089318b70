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
	// (read with WeightGrad) in LoRA training; the Taylor baseline needs
	// them (full-size buffers: LoRAShear does not ask for them).
	BaseGrads bool
	// Adapter, when set, is trained instead of a fresh one (LoRA only).
	Adapter *lora.Adapter
	// Frozen makes a forward-only trainer: no adapter, no gradients, the
	// weights left as they are (a distillation teacher, see SetTeacher).
	Frozen bool
	// Recompute keeps only each block's input from the forward pass and
	// recomputes the block's activations in the backward (same kernels,
	// same dropout draws: the gradients are bit-identical). The default,
	// RecomputeAuto, turns it on when the stored activations would exceed
	// RecomputeAbove bytes.
	Recompute Recompute
	// ChannelTaylor makes the backward pass also sum, per sequence, the
	// first-order terms t_n = ⟨x_n, ∂L/∂x_n⟩ of each removable unit of the
	// attention output (one KV group's query heads) and of the FFN down
	// projection's input (one channel), and their squares per token (read
	// with ChannelTaylor): the loss change of zeroing a unit, to first
	// order, and the per-token Fisher term of the second, for every unit
	// in one pass.
	ChannelTaylor bool
	// KeepInputs makes a Frozen trainer keep every block's input from its
	// last forward pass, so LossFrom can rerun the blocks from one on.
	KeepInputs bool
}

// Recompute chooses between storing every block's activations for the
// backward pass and recomputing them from a checkpoint of its input.
type Recompute uint8

const (
	RecomputeAuto Recompute = iota
	RecomputeOn
	RecomputeOff
)

// RecomputeAbove is the stored-activation size above which RecomputeAuto
// recomputes (the 110M shape at batch 8 × 128 would store ~1.1 GB).
const RecomputeAbove = 256 << 20

// Param is one trainable tensor and its gradient.
type Param struct {
	Name  string
	W, G  []float32
	Decay bool // weight decay applies (matrices, not norms or biases)
}

// layerState holds one block's linears, norm gradients, the checkpoint of
// its input and its activations (its own, or with recomputation one set
// shared by every block); the gradient scratch is always shared.
type layerState struct {
	q, k, v, o, gate, up, down *linear
	gAttnNorm, gFFNNorm        []float32
	gQNorm, gKNorm             []float32 // full training with per-head q/k norms

	xIn []float32 // the block's input (the checkpoint recomputation starts from)

	tO, tDown   []float64 // ChannelTaylor: [B × units] Σ_n t_n over each sequence, for Wo's and Wdown's input
	tO2, tDown2 []float64 // Σ_n t_n²
	rng         []byte    // the dropout stream's state at the block's forward (recompute)

	// Per-head q/k norms (Qwen3): the projections before the norm, each
	// head's scale, and the gradient with respect to the projections.
	qPre, kPre, qInv, kInv []float32
	dqPre, dkPre           []float32

	xn1, inv1         []float32
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

	recompute bool
	layers    []layerState
	out       *linear
	gEmbed    []float32 // full training: embedding gradient (shared with the output when tied)
	gOutNorm  []float32
	xOut, xnf []float32
	xRe       []float32 // recomputation's copy of a block input
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

// pool hands out buffers by name: with share set, every request of a name
// gets the same storage (sized for the largest layer), without it a
// buffer of its own. Buffers that are scratch within one block are
// always shared; activations are shared when they are recomputed.
type pool struct {
	bufs map[string][]float32
}

func (p *pool) get(name string, n, most int, share bool) []float32 {
	if n == 0 {
		return nil
	}
	if !share {
		return make([]float32, n)
	}
	if p.bufs == nil {
		p.bufs = map[string][]float32{}
	}
	b := p.bufs[name]
	if len(b) < n {
		b = make([]float32, max(n, most))
		p.bufs[name] = b
	}
	return b[:n]
}

// widest is the largest per-layer width of the model: query and KV
// projections, FFN, attention probabilities per row (heads × T).
type widest struct{ qd, kvd, ff, heads, kvHeads int }

func widths(c *model.Config) widest {
	var w widest
	for l := 0; l < c.Layers; l++ {
		w.qd, w.kvd = max(w.qd, c.Heads[l]*c.HeadDim), max(w.kvd, c.KVHeads[l]*c.HeadDim)
		w.ff, w.heads, w.kvHeads = max(w.ff, c.FFN[l]), max(w.heads, c.Heads[l]), max(w.kvHeads, c.KVHeads[l])
	}
	return w
}

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
	W := widths(c)
	rank := 0
	drop := float32(0)
	if t.Adapter != nil {
		drop = t.Adapter.Dropout
		rank = t.Adapter.Rank
	}
	t.recompute = opt.Frozen || opt.Recompute == RecomputeOn ||
		(opt.Recompute == RecomputeAuto && storedActivations(c, t.B, t.T, rank, drop > 0) > RecomputeAbove)
	grads := opt.Full || opt.BaseGrads
	mod := func(l int, tg lora.Target) *lora.Module {
		if t.Adapter == nil {
			return nil
		}
		return t.Adapter.Modules[l][tg]
	}
	var bufs pool
	act := func(name string, n, most int) []float32 { return bufs.get(name, n, most, t.recompute) }
	scratch := func(name string, n, most int) []float32 { return bufs.get(name, n, most, true) }
	lin := func(tg lora.Target, l int, w *tensor.Matrix, bias []float32) *linear {
		mostIn := d
		switch tg {
		case lora.O:
			mostIn = W.qd
		case lora.Down:
			mostIn = W.ff
		}
		return newLinear(w, bias, mod(l, tg), drop, grads, N, &bufs, tg.String(), t.recompute, mostIn, N*max(d, W.qd, W.ff))
	}
	t.layers = make([]layerState, c.Layers)
	for l := range t.layers {
		L, S := &m.Blocks[l], &t.layers[l]
		qd, kvd, ff := c.Heads[l]*c.HeadDim, c.KVHeads[l]*c.HeadDim, c.FFN[l]
		if !opt.Frozen || opt.KeepInputs {
			S.xIn = make([]float32, N*d)
		}
		S.xMid = act("xMid", N*d, N*d)
		if qd > 0 {
			S.q = lin(lora.Q, l, L.Wq, L.Bq)
			S.k = lin(lora.K, l, L.Wk, L.Bk)
			S.v = lin(lora.V, l, L.Wv, L.Bv)
			S.o = lin(lora.O, l, L.Wo, L.Bo)
			S.xn1, S.inv1 = act("xn1", N*d, N*d), act("inv1", N, N)
			S.qb, S.kb, S.vb, S.atto = act("q", N*qd, N*W.qd), act("k", N*kvd, N*W.kvd), act("v", N*kvd, N*W.kvd), act("atto", N*qd, N*W.qd)
			S.dq, S.dk, S.dv, S.datto = scratch("dq", N*qd, N*W.qd), scratch("dk", N*kvd, N*W.kvd), scratch("dv", N*kvd, N*W.kvd), scratch("datto", N*qd, N*W.qd)
			S.att = attention{B: t.B, T: t.T, H: c.Heads[l], KV: c.KVHeads[l], hd: c.HeadDim,
				q: S.qb, k: S.kb, v: S.vb, o: S.atto, probs: act("probs", t.B*t.T*c.Heads[l]*t.T, t.B*t.T*W.heads*t.T),
				dq: S.dq, dk: S.dk, dv: S.dv, do: S.datto}
			if l > 0 && t.layers[0].q != nil {
				S.att.tiles = t.layers[0].att.tiles // per-worker tiles are sized by T and hd alone
			} else {
				S.att.tiles = &attnTiles{}
			}
			if opt.Full {
				S.gAttnNorm = make([]float32, d)
			}
			if L.QNorm != nil {
				S.qPre, S.kPre = act("qPre", N*qd, N*W.qd), act("kPre", N*kvd, N*W.kvd)
				S.dqPre, S.dkPre = scratch("dqPre", N*qd, N*W.qd), scratch("dkPre", N*kvd, N*W.kvd)
				S.qInv, S.kInv = act("qInv", N*c.Heads[l], N*W.heads), act("kInv", N*c.KVHeads[l], N*W.kvHeads)
				if opt.Full {
					S.gQNorm, S.gKNorm = make([]float32, c.HeadDim), make([]float32, c.HeadDim)
				}
			}
		}
		if opt.ChannelTaylor {
			S.tO, S.tDown = make([]float64, t.B*c.KVHeads[l]), make([]float64, t.B*ff)
			S.tO2, S.tDown2 = make([]float64, t.B*c.KVHeads[l]), make([]float64, t.B*ff)
		}
		if ff > 0 {
			if L.Wgate != nil {
				S.gate = lin(lora.Gate, l, L.Wgate, nil)
				S.g, S.dg = act("g", N*ff, N*W.ff), scratch("dg", N*ff, N*W.ff)
			}
			S.up = lin(lora.Up, l, L.Wup, nil)
			S.down = lin(lora.Down, l, L.Wdown, L.Bdown)
			S.xn2, S.inv2 = act("xn2", N*d, N*d), act("inv2", N, N)
			S.u, S.h = act("u", N*ff, N*W.ff), act("h", N*ff, N*W.ff)
			S.du, S.dh = scratch("du", N*ff, N*W.ff), scratch("dh", N*ff, N*W.ff)
			if opt.Full {
				S.gFFNNorm = make([]float32, d)
			}
		}
	}
	t.out = newLinear(m.Output, nil, nil, 0, opt.Full, logitChunk, &bufs, "output", false, 0, 0)
	if opt.Full {
		t.gOutNorm = make([]float32, d)
		if m.Tied {
			t.gEmbed = t.out.GW
		} else {
			t.gEmbed = make([]float32, c.Vocab*d)
		}
	}
	t.xOut, t.xnf, t.invf = make([]float32, N*d), make([]float32, N*d), make([]float32, N)
	if !opt.Frozen {
		t.dx, t.dxn = make([]float32, N*d), make([]float32, N*d)
		t.tmpRows = make([]float32, N*d)
		if t.recompute {
			t.xRe = make([]float32, N*d)
		}
	} else {
		t.dxn = make([]float32, N*d) // each block's output before the residual add
	}
	t.logits = make([]float32, logitChunk*c.Vocab)
	t.cos, t.sin = m.RopeTable(t.T)
	t.params = t.collectParams()
	return t, nil
}

// storedActivations is the size in bytes of the activations every block
// would keep for the backward pass without recomputation (LoRA rank r;
// dropout keeps its masks and dropped inputs).
func storedActivations(c *model.Config, B, T, r int, dropout bool) int64 {
	N, d := int64(B*T), int64(c.Dim)
	var n int64
	for l := 0; l < c.Layers; l++ {
		qd, kvd, ff := int64(c.Heads[l]*c.HeadDim), int64(c.KVHeads[l]*c.HeadDim), int64(c.FFN[l])
		n += N * d // xMid
		var ins []int64
		if qd > 0 {
			n += N*d + N + 2*N*qd + 2*N*kvd + int64(B*T*c.Heads[l]*T)
			ins = append(ins, d, d, d, qd)
			if c.QKNorm {
				n += N*(qd+kvd) + N*int64(c.Heads[l]+c.KVHeads[l])
			}
		}
		if ff > 0 {
			n += N*d + N + 2*N*ff
			ins = append(ins, d, ff)
			if c.Gated {
				n += N * ff
				ins = append(ins, d)
			}
		}
		if r > 0 {
			for _, in := range ins {
				n += N * int64(r)
				if dropout {
					n += 2 * N * in
				}
			}
		}
	}
	return 4 * n
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

// LossFrom is Loss after a change to blocks l and above only: it reruns
// them from block l's input as the last forward pass (Loss or Step) saved
// it (Options.KeepInputs for a Frozen trainer), leaving the saved inputs
// as they are.
func (t *Trainer) LossFrom(l int, targets []int) (float64, int, error) {
	if l < 0 || l >= len(t.layers) || t.layers[l].xIn == nil {
		return 0, 0, fmt.Errorf("train: no saved input of block %d (KeepInputs)", l)
	}
	if len(targets) != t.N {
		return 0, 0, fmt.Errorf("train: need %d targets, got %d", t.N, len(targets))
	}
	count := 0
	for _, tg := range targets {
		if tg >= t.M.Vocab {
			return 0, 0, fmt.Errorf("train: target %d outside the vocabulary", tg)
		}
		if tg >= 0 {
			count++
		}
	}
	if count == 0 {
		return 0, 0, nil
	}
	c := &t.M.Config
	x := t.xOut
	copy(x, t.layers[l].xIn)
	for j := l; j < len(t.layers); j++ {
		t.blockForward(j, x, nil)
	}
	rmsnormForward(t.xnf, t.invf, x, t.M.OutNorm, t.N, c.Dim, c.NormEps)
	loss := t.head(targets, 1/float32(count), false, false)
	return loss / float64(count), count, nil
}

// Logits runs the forward pass (no dropout) and returns all Batch×Ctx
// rows of logits in a new slice.
func (t *Trainer) Logits(tokens []int) ([]float32, error) {
	out := make([]float32, 0, t.N*t.M.Vocab)
	err := t.EachLogits(tokens, func(_ int, logits []float32) { out = append(out, logits...) })
	return out, err
}

// EachLogits runs the forward pass (no dropout) and hands fn the logits
// chunk by chunk (rows r0 onwards), without holding all Batch×Ctx rows.
func (t *Trainer) EachLogits(tokens []int, fn func(r0 int, logits []float32)) error {
	if len(tokens) != t.N {
		return fmt.Errorf("train: need %d tokens, got %d", t.N, len(tokens))
	}
	for _, tok := range tokens {
		if tok < 0 || tok >= t.M.Vocab {
			return fmt.Errorf("train: token %d outside the vocabulary", tok)
		}
	}
	t.forward(tokens, nil)
	V, d := t.M.Vocab, t.M.Dim
	for r0 := 0; r0 < t.N; r0 += logitChunk {
		n := min(logitChunk, t.N-r0)
		logits := t.logits[:n*V]
		t.out.W.MatMul(logits, t.xnf[r0*d:(r0+n)*d], n, &t.scratch)
		fn(r0, logits)
	}
	return nil
}

// forward runs the blocks, saving what the backward pass needs: every
// block's activations, or with recomputation each block's input and the
// dropout stream's state before it.
func (t *Trainer) forward(tokens []int, rng *rand.Rand) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	x := t.xOut // the residual stream; each layer saves its input
	for i, tok := range tokens {
		m.Embed.Row(tok, x[i*d:(i+1)*d])
	}
	for l := range t.layers {
		S := &t.layers[l]
		if S.xIn != nil {
			copy(S.xIn, x)
		}
		if t.recompute && rng != nil {
			S.rng, _ = t.pcg.MarshalBinary() // PCG state: never fails
		}
		t.blockForward(l, x, rng)
	}
	rmsnormForward(t.xnf, t.invf, x, m.OutNorm, N, d, c.NormEps)
}

// blockForward runs block l on the residual stream x in place, saving its
// activations.
func (t *Trainer) blockForward(l int, x []float32, rng *rand.Rand) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	S, L := &t.layers[l], &m.Blocks[l]
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
// every parameter, in reverse layer order. With recomputation each block
// (but the last, whose activations are still in place) first runs its
// forward again from its saved input with the dropout draws it had.
func (t *Trainer) backward(tokens []int) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	dx := t.dx
	clear(dx)
	rmsnormBackward(dx, t.gOutNorm, t.dxn, t.xOut, m.OutNorm, t.invf, N, d)
	var after []byte // the dropout stream after the forward pass
	if t.recompute {
		after, _ = t.pcg.MarshalBinary()
	}
	for l := len(t.layers) - 1; l >= 0; l-- {
		S := &t.layers[l]
		if t.recompute && l < len(t.layers)-1 {
			var rng *rand.Rand
			if S.rng != nil {
				if err := t.pcg.UnmarshalBinary(S.rng); err != nil {
					panic(err) // the state was marshalled by the same PCG
				}
				rng = t.rng
			}
			copy(t.xRe, S.xIn)
			t.blockForward(l, t.xRe, rng)
		}
		t.blockBackward(l, dx)
	}
	if after != nil {
		if err := t.pcg.UnmarshalBinary(after); err != nil {
			panic(err)
		}
	}
	if t.gEmbed != nil {
		for i, tok := range tokens {
			simd.Add(t.gEmbed[tok*d:(tok+1)*d], t.gEmbed[tok*d:(tok+1)*d], dx[i*d:(i+1)*d])
		}
	}
}

// blockBackward takes the residual gradient dx through block l (in place)
// and accumulates its parameter gradients.
func (t *Trainer) blockBackward(l int, dx []float32) {
	m, c := t.M, &t.M.Config
	N, d := t.N, c.Dim
	S, L := &t.layers[l], &m.Blocks[l]
	if S.up != nil {
		// x = xMid + down(h): dh = dx·Wdown; the MLP input gradient flows into dx.
		S.down.backward(S.dh, dx, S.h, N)
		t.channelTaylor(S.tDown, S.tDown2, S.h, S.dh, 1)
		if S.gate != nil {
			swigluBackward(S.dg, S.du, S.dh, S.g, S.u)
			S.gate.backward(t.dxn, S.dg, S.xn2, N)
			tmp := t.tmpRows
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
		t.channelTaylor(S.tO, S.tO2, S.atto, S.datto, c.HeadDim*c.Heads[l]/max(c.KVHeads[l], 1))
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
		tmp := t.tmpRows
		S.k.backward(tmp, S.dk, S.xn1, N)
		simd.Add(t.dxn, t.dxn, tmp)
		S.v.backward(tmp, S.dv, S.xn1, N)
		simd.Add(t.dxn, t.dxn, tmp)
		rmsnormBackward(dx, S.gAttnNorm, t.dxn, S.xIn, L.AttnNorm, S.inv1, N, d)
	}
}

// channelTaylor sets sums[b·u + k] = Σ t_n and squares[b·u + k] = Σ t_n²
// over the rows n of sequence b, t_n = Σ_{j ∈ unit k} x[n, j]·dx[n, j],
// for u units of width channels each; nothing without
// Options.ChannelTaylor.
func (t *Trainer) channelTaylor(sums, squares []float64, x, dx []float32, width int) {
	if sums == nil {
		return
	}
	u := len(sums) / t.B
	w := u * width
	clear(sums)
	clear(squares)
	for n := 0; n < t.N; n++ {
		b := n / t.T
		xr, dr := x[n*w:(n+1)*w], dx[n*w:(n+1)*w]
		for k := 0; k < u; k++ {
			var tn float64
			for j := k * width; j < (k+1)*width; j++ {
				tn += float64(xr[j]) * float64(dr[j])
			}
			sums[b*u+k] += tn
			squares[b*u+k] += tn * tn
		}
	}
}

// ChannelTaylor returns, for the last Step, the per-sequence sums of
// Options.ChannelTaylor for the input units of matrix name
// (blk.N.attn_output.weight: one per KV head; blk.N.ffn_down.weight: one
// per channel), [Batch × units] sequence-major, and the width of a unit in
// input channels. Nil when not computed.
func (t *Trainer) ChannelTaylor(name string) (sums, squares []float64, width int) {
	l, base, suffix, err := model.SplitName(name)
	if err != nil || l < 0 || l >= len(t.layers) || suffix != "weight" {
		return nil, nil, 0
	}
	S, c := &t.layers[l], &t.M.Config
	switch base {
	case model.AttnOutput.Info().Base:
		if c.KVHeads[l] == 0 {
			return nil, nil, 0
		}
		return S.tO, S.tO2, c.HeadDim * c.Heads[l] / c.KVHeads[l]
	case model.FFNDown.Info().Base:
		return S.tDown, S.tDown2, 1
	}
	return nil, nil, 0
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
