package train

import (
	"math/rand/v2"

	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// linear is one projection y = x·Wᵀ (+ b) (+ s·(drop(x)·Aᵀ)·Bᵀ) with its
// gradients. In full training W is float32 and GW is its gradient; in LoRA
// training W is frozen (f16 or f32) and only A, B learn.
type linear struct {
	W     *tensor.Matrix
	GW    []float32 // nil when W is frozen
	Bias  []float32 // optional
	GBias []float32
	L     *lora.Module // optional adapter
	GA    []float32
	GB    []float32
	drop  float32 // LoRA dropout probability

	// Saved for the backward pass (planned once for the largest batch);
	// with recomputation the same target of every block shares them.
	ax   []float32 // [n × r]  drop(x)·Aᵀ
	xd   []float32 // [n × in] drop(x), only with dropout
	mask []float32 // [n × in] dropout scale per element (0 or 1/(1−p))
	// Scratch, shared by every linear of the trainer.
	dax []float32 // [n × r]
	tmp []float32 // [n × max(out, in)] LoRA branch output
}

// newLinear sets up one projection; name keys its activations in bufs
// (shared between blocks when shareActs, sized for the widest input
// mostIn of its target), scratchMost sizes the shared LoRA scratch for the
// widest projection.
func newLinear(w *tensor.Matrix, bias []float32, mod *lora.Module, dropout float32, full bool, maxRows int,
	bufs *pool, name string, shareActs bool, mostIn, scratchMost int) *linear {
	l := &linear{W: w, Bias: bias, L: mod}
	if full {
		l.GW = make([]float32, w.Rows*w.Cols)
		if bias != nil {
			l.GBias = make([]float32, len(bias))
		}
	}
	if mod != nil {
		r := mod.Rank
		l.GA, l.GB = make([]float32, len(mod.A)), make([]float32, len(mod.B))
		l.ax = bufs.get(name+".ax", maxRows*r, maxRows*r, shareActs)
		l.dax = bufs.get("lora.dax", maxRows*r, maxRows*r, true)
		l.tmp = bufs.get("lora.tmp", maxRows*max(w.Rows, w.Cols), scratchMost, true)
		l.drop = dropout
		if dropout > 0 {
			l.xd = bufs.get(name+".xd", maxRows*w.Cols, maxRows*mostIn, shareActs)
			l.mask = bufs.get(name+".mask", maxRows*w.Cols, maxRows*mostIn, shareActs)
		}
	}
	return l
}

// forward: y[n×out] = x[n×in]·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ. rng draws the
// dropout mask (nil: no dropout, as in evaluation).
func (l *linear) forward(y, x []float32, n int, s *tensor.Scratch, rng *rand.Rand) {
	in, out := l.W.Cols, l.W.Rows
	l.W.MatMul(y, x, n, s)
	model.AddBias(y[:n*out], l.Bias)
	if l.L == nil {
		return
	}
	r := l.L.Rank
	xa := x[:n*in]
	if l.drop > 0 && rng != nil {
		keep := 1 / (1 - l.drop)
		for i := range xa {
			m := float32(0)
			if rng.Float32() >= l.drop {
				m = keep
			}
			l.mask[i] = m
			l.xd[i] = xa[i] * m
		}
		xa = l.xd[:n*in]
	} else if l.mask != nil {
		for i := range l.mask[:n*in] {
			l.mask[i] = 1
		}
		copy(l.xd, xa)
		xa = l.xd[:n*in]
	}
	simd.MatMul(l.ax[:n*r], xa, l.L.A, n, r, in)
	simd.MatMul(l.tmp[:n*out], l.ax[:n*r], l.L.B, n, out, r)
	simd.Axpy(l.L.Scale, l.tmp[:n*out], y[:n*out])
}

// backward: dx[n×in] = dy·W (+ the LoRA path), overwriting dx; parameter
// gradients accumulate: dW += dyᵀ·x, db += Σ dy, dB += s·dyᵀ·ax,
// dA += (s·dy·B)ᵀ·drop(x).
func (l *linear) backward(dx, dy, x []float32, n int) {
	in, out := l.W.Cols, l.W.Rows
	dy, x, dx = dy[:n*out], x[:n*in], dx[:n*in]
	switch l.W.DType {
	case tensor.F32:
		simd.MatMulBackIn(dx, dy, l.W.F32, n, out, in)
	case tensor.F16:
		simd.MatMulBackInF16(dx, dy, l.W.F16, n, out, in)
	default:
		panic("train: quantized weights cannot be trained; load with f16 or f32")
	}
	if l.GW != nil {
		simd.MatMulBackW(l.GW, dy, x, n, out, in)
	}
	if l.GBias != nil {
		for i := 0; i < n; i++ {
			simd.Add(l.GBias, l.GBias, dy[i*out:(i+1)*out])
		}
	}
	if l.L == nil {
		return
	}
	r, s := l.L.Rank, l.L.Scale
	ax, dax := l.ax[:n*r], l.dax[:n*r]
	// dB += s·dyᵀ·ax; scale dy once into tmp.
	sdy := l.tmp[:n*out]
	copy(sdy, dy)
	simd.Scale(s, sdy)
	simd.MatMulBackW(l.GB, sdy, ax, n, out, r)
	// dax = s·dy·B; dA += daxᵀ·drop(x); dx += mask ⊙ (dax·A).
	simd.MatMulBackIn(dax, sdy, l.L.B, n, out, r)
	xa := x
	if l.xd != nil {
		xa = l.xd[:n*in]
	}
	simd.MatMulBackW(l.GA, dax, xa, n, r, in)
	back := l.tmp[:n*in]
	simd.MatMulBackIn(back, dax, l.L.A, n, r, in)
	if l.mask != nil {
		simd.Mul(back, back, l.mask[:n*in])
	}
	simd.Add(dx, dx, back)
}
