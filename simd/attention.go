package simd

import (
	"fmt"
	"math"
	"sync"
)

// Attention computes causal multi-head attention (with grouped KV heads)
// for n query rows at absolute positions pos … pos+n-1:
//
//	out[i,h] = Σ_{j ≤ pos+i} softmax_j(q[i,h]·k[j,h/g] / √headDim) · v[j,h/g],  g = heads/kvHeads.
//
// q and out hold n rows of heads·headDim; kCache and vCache hold at least
// pos+n rows of kvHeads·headDim (the new rows already written); scores is
// scratch of at least n·heads·ctx with ctx ≥ pos+n. The (row, head) pairs
// run in parallel. It is one kernel, not a loop of Dot and Axpy calls, so
// that the WebAssembly host build can run a layer's attention in one host
// call.
func Attention(out, q, kCache, vCache, scores []float32, n, pos, heads, kvHeads, headDim, ctx int) {
	if n < 0 || pos < 0 || heads < 0 || kvHeads <= 0 || headDim <= 0 || heads%kvHeads != 0 || ctx < pos+n {
		panic(fmt.Sprintf("simd: Attention: bad sizes n=%d pos=%d heads=%d kvHeads=%d headDim=%d ctx=%d", n, pos, heads, kvHeads, headDim, ctx))
	}
	qd, kvd := heads*headDim, kvHeads*headDim
	if len(q) < n*qd || len(out) < n*qd || len(kCache) < (pos+n)*kvd || len(vCache) < (pos+n)*kvd || len(scores) < n*heads*ctx {
		panic(fmt.Sprintf("simd: Attention: buffers too short (q %d, out %d, k %d, v %d, scores %d) for n=%d pos=%d heads=%d kvHeads=%d headDim=%d ctx=%d",
			len(q), len(out), len(kCache), len(vCache), len(scores), n, pos, heads, kvHeads, headDim, ctx))
	}
	if n == 0 || heads == 0 {
		return
	}
	attention(out, q, kCache, vCache, scores, n, pos, heads, kvHeads, headDim, ctx)
}

// attentionTask is one Attention call handed to ParallelFor; one work item
// is a (row, head) pair. Tasks are recycled so that a call allocates nothing.
type attentionTask struct {
	out, q, k, v, scores              []float32
	pos, heads, kvHeads, headDim, ctx int
}

var attentionTasks = sync.Pool{New: func() any { return new(attentionTask) }}

// attentionLocal runs Attention on this machine's threads.
func attentionLocal(out, q, kCache, vCache, scores []float32, n, pos, heads, kvHeads, headDim, ctx int) {
	t := attentionTasks.Get().(*attentionTask)
	*t = attentionTask{out: out, q: q, k: kCache, v: vCache, scores: scores,
		pos: pos, heads: heads, kvHeads: kvHeads, headDim: headDim, ctx: ctx}
	ParallelFor(n*heads, 1, t)
	*t = attentionTask{}
	attentionTasks.Put(t)
}

func (t *attentionTask) Run(lo, hi int) {
	hd := t.headDim
	qd, kvd := t.heads*hd, t.kvHeads*hd
	group := t.heads / t.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	for item := lo; item < hi; item++ {
		i, h := item/t.heads, item%t.heads
		p := t.pos + i // absolute position of this row
		kh := h / group
		qh := t.q[i*qd+h*hd : i*qd+(h+1)*hd]
		sc := t.scores[item*t.ctx : item*t.ctx+p+1]
		o := t.out[i*qd+h*hd : i*qd+(h+1)*hd]
		clear(o)
		if hd < 32 {
			// Small heads: each product rounded, each score summed in head
			// order (headScores, headMix); large heads: Dot's and Axpy's
			// blocks (headDots, headAxpys). Each call takes every position.
			headScores(sc, qh, t.k[kh*hd:], kvd, scale)
			Softmax(sc)
			headMix(o, t.v[kh*hd:], sc, kvd)
			continue
		}
		headDots(sc, qh, t.k[kh*hd:], kvd, scale)
		Softmax(sc)
		headAxpys(o, t.v[kh*hd:], sc, kvd)
	}
}
