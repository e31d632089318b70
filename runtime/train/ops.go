package train

import (
	"math"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/simd"
)

// Each op's forward sits next to its backward (llm.c style). Rows are
// tokens; n is the number of rows. Backward functions accumulate into
// parameter gradients (+=) and write or accumulate input gradients as
// their comments say.

// rmsnormForward: y = x · inv · w, inv = 1/√(mean(x²)+ε), per row of
// width d; the inference forward's own kernel (model.RMSNormRows), so the
// two passes agree bit for bit. It stores inv for the backward pass.
func rmsnormForward(y, inv, x, w []float32, n, d int, eps float32) {
	model.RMSNormRows(y[:n*d], x[:n*d], w[:d], eps, inv)
}

// rmsnormBackward: dx += inv·(dy⊙w) − inv³·x·⟨dy⊙w, x⟩/d; dw += Σ dy⊙x·inv
// (dw may be nil when the weight is frozen).
func rmsnormBackward(dx, dw, dy, x, w, inv []float32, n, d int) {
	for i := 0; i < n; i++ {
		xr, dyr, dxr := x[i*d:(i+1)*d], dy[i*d:(i+1)*d], dx[i*d:(i+1)*d]
		s := inv[i]
		var dot float32
		for j := range xr {
			dot += dyr[j] * w[j] * xr[j]
		}
		c := s * s * s * dot / float32(d)
		for j := range xr {
			dxr[j] += s*dyr[j]*w[j] - c*xr[j]
		}
		if dw != nil {
			for j := range xr {
				dw[j] += dyr[j] * xr[j] * s
			}
		}
	}
}

// swigluForward: h = silu(g) ⊙ u.
func swigluForward(h, g, u []float32) { simd.SwiGLU(h, g, u) }

// swigluBackward: dg = dh ⊙ u ⊙ silu'(g), du = dh ⊙ silu(g), with
// silu'(g) = σ(g)·(1 + g·(1 − σ(g))). Overwrites dg and du.
func swigluBackward(dg, du, dh, g, u []float32) {
	for i, gv := range g {
		sig := float32(1 / (1 + simd.Exp64(-float64(gv))))
		du[i] = dh[i] * gv * sig
		dg[i] = dh[i] * u[i] * sig * (1 + gv*(1-sig))
	}
}

// siluForward: h = silu(u) (the MLP without a gate).
func siluForward(h, u []float32) {
	copy(h, u)
	simd.SiLU(h)
}

// siluBackward: du = dh ⊙ silu'(u). Overwrites du.
func siluBackward(du, dh, u []float32) {
	for i, uv := range u {
		sig := float32(1 / (1 + simd.Exp64(-float64(uv))))
		du[i] = dh[i] * sig * (1 + uv*(1-sig))
	}
}

// ropeForward rotates every head of each row in place in the family's
// pairing (model.Config.Rope); row i of sequence position p uses cos/sin of p.
func ropeForward(c *model.Config, x []float32, n, T, heads int, cos, sin []float32) {
	half := c.RopeDim / 2
	w := heads * c.HeadDim
	for i := 0; i < n; i++ {
		p := i % T
		c.Rope(x[i*w:(i+1)*w], heads, cos[p*half:(p+1)*half], sin[p*half:(p+1)*half])
	}
}

// ropeBackward applies the inverse rotation to the gradient in place.
func ropeBackward(c *model.Config, dx []float32, n, T, heads int, cos, sin []float32) {
	half := c.RopeDim / 2
	w := heads * c.HeadDim
	for i := 0; i < n; i++ {
		p := i % T
		c.RopeBack(dx[i*w:(i+1)*w], heads, cos[p*half:(p+1)*half], sin[p*half:(p+1)*half])
	}
}

// attention is causal grouped-query attention over B sequences of T
// tokens. Forward: P = softmax(q·kᵀ/√hd) (causal), o = P·v, run by the
// inference kernel simd.Attention (each sequence as a KV cache of T rows)
// so training and inference compute the same bits; P is kept for the
// backward. Each backward work item is one (sequence, KV head) pair, so
// dk, dv of a group accumulate without races; each head's products run as
// small matrix multiplications on gathered, contiguous tiles.
type attention struct {
	B, T, H, KV, hd int
	q, k, v, probs  []float32 // probs [B × T × H × T]: simd.Attention's scores, row (i, h) holds P[i, 0…i]
	o               []float32
	dq, dk, dv, do  []float32
	tiles           *attnTiles // shared by every block
}

// attnTiles holds one tile set per worker, made on first use.
type attnTiles struct{ free chan *attnScratch }

// attnScratch is one worker's tiles.
type attnScratch struct {
	qh, kh, vh, oh, dqh, dkh, dvh []float32 // [T × hd]
	p, dp                         []float32 // [T × T]
}

// initScratch allocates one tile set per worker, once.
func (a *attention) initScratch() {
	if a.tiles == nil {
		a.tiles = &attnTiles{}
	}
	if a.tiles.free == nil {
		a.tiles.free = make(chan *attnScratch, simd.Threads()+1)
		for i := 0; i < cap(a.tiles.free); i++ {
			th, tt := a.T*a.hd, a.T*a.T
			a.tiles.free <- &attnScratch{qh: make([]float32, th), kh: make([]float32, th), vh: make([]float32, th),
				oh: make([]float32, th), dqh: make([]float32, th), dkh: make([]float32, th), dvh: make([]float32, th),
				p: make([]float32, tt), dp: make([]float32, tt)}
		}
	}
}

func (a *attention) forward() {
	T, qd, kvd := a.T, a.H*a.hd, a.KV*a.hd
	for b := 0; b < a.B; b++ {
		simd.Attention(a.o[b*T*qd:(b+1)*T*qd], a.q[b*T*qd:(b+1)*T*qd], a.k[b*T*kvd:(b+1)*T*kvd], a.v[b*T*kvd:(b+1)*T*kvd],
			a.probs[b*T*a.H*T:(b+1)*T*a.H*T], T, 0, a.H, a.KV, a.hd, T)
	}
}

// gatherProbs copies head h of sequence b's probabilities into a causal T×T tile.
func (a *attention) gatherProbs(tile []float32, b, h int) {
	T := a.T
	for i := 0; i < T; i++ {
		off := ((b*T+i)*a.H + h) * T
		copy(tile[i*T:i*T+i+1], a.probs[off:off+i+1])
		clear(tile[i*T+i+1 : (i+1)*T])
	}
}

// backwardPass overwrites dq, dk, dv from do.
func (a *attention) backwardPass() {
	a.initScratch()
	simd.ParallelFor(a.B*a.KV, 1, a)
}

// gather copies head h of rows b·T … b·T+T−1 of x (width w) into a T×hd tile.
func (a *attention) gather(tile, x []float32, b, h, w int) {
	hd := a.hd
	for i := 0; i < a.T; i++ {
		copy(tile[i*hd:(i+1)*hd], x[(b*a.T+i)*w+h*hd:])
	}
}

// scatter is gather's inverse.
func (a *attention) scatter(x, tile []float32, b, h, w int) {
	hd := a.hd
	for i := 0; i < a.T; i++ {
		copy(x[(b*a.T+i)*w+h*hd:(b*a.T+i)*w+(h+1)*hd], tile[i*hd:(i+1)*hd])
	}
}

func (a *attention) Run(lo, hi int) {
	sc := <-a.tiles.free
	defer func() { a.tiles.free <- sc }()
	for item := lo; item < hi; item++ {
		a.backwardGroup(sc, item/a.KV, item%a.KV)
	}
}

// backwardGroup: for each query head h of KV head kh,
// dP = dO_h·V_hᵀ, dV_h += Pᵀ·dO_h, dS = P ⊙ (dP − rowsum(P ⊙ dP))·s,
// dQ_h = dS·K_h, dK_h += dSᵀ·Q_h.
func (a *attention) backwardGroup(sc *attnScratch, b, kh int) {
	T, hd := a.T, a.hd
	qd, kvd := a.H*hd, a.KV*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	a.gather(sc.kh, a.k, b, kh, kvd)
	a.gather(sc.vh, a.v, b, kh, kvd)
	clear(sc.dkh)
	clear(sc.dvh)
	group := a.H / a.KV
	for h := kh * group; h < (kh+1)*group; h++ {
		a.gather(sc.qh, a.q, b, h, qd)
		a.gather(sc.oh, a.do, b, h, qd) // oh holds dO_h here
		p := sc.p
		a.gatherProbs(p, b, h)
		dp := sc.dp
		simd.MatMul(dp, sc.oh, sc.vh, T, T, hd)
		simd.MatMulBackW(sc.dvh, p, sc.oh, T, T, hd)
		for i := 0; i < T; i++ {
			pr, dr := p[i*T:i*T+i+1], dp[i*T:(i+1)*T]
			sum := simd.Dot(pr, dr[:i+1])
			for j, pv := range pr {
				dr[j] = pv * (dr[j] - sum) * scale
			}
			clear(dr[i+1:])
		}
		simd.MatMulBackIn(sc.dqh, dp, sc.kh, T, T, hd)
		simd.MatMulBackW(sc.dkh, dp, sc.qh, T, T, hd)
		a.scatter(a.dq, sc.dqh, b, h, qd)
	}
	a.scatter(a.dk, sc.dkh, b, kh, kvd)
	a.scatter(a.dv, sc.dvh, b, kh, kvd)
}

// dot and axpy pick a plain loop for short vectors, where a kernel call
// costs more than the arithmetic.
func dot(x, y []float32) float32 {
	if len(x) >= 32 {
		return simd.Dot(x, y)
	}
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

func axpy(a float32, x, y []float32) {
	if len(x) >= 32 {
		simd.Axpy(a, x, y)
		return
	}
	for i, v := range x {
		y[i] += a * v
	}
}

// crossEntropy turns one row of logits into the gradient of
// loss·weight in place (softmax − one-hot)·weight and returns the row's
// loss −log p[target] = log Z − (v_t − max). The largest logit's
// probability is 1/Z, so log Z comes out of the softmax without a second
// pass and without underflow.
func crossEntropy(logits []float32, target int, weight float32) float64 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	zt := float64(logits[target] - logits[best])
	simd.Softmax(logits) // vectorised exp: the vocabulary row is the hot loop
	loss := -simd.Log64(float64(logits[best])) - zt
	simd.Scale(weight, logits)
	logits[target] -= weight
	return loss
}

// distillRow turns one row of student logits s into the gradient of
//
//	weight·[(1−λ)·CE(s, target) + λ·τ²·KL(p ‖ q)],  p = softmax(t/τ), q = softmax(s/τ)
//
// in place, with t the teacher's logits (overwritten) and buf a scratch of
// two rows. ∂/∂s of τ²·KL(p ‖ q) is τ·(q − p), so the row becomes
// weight·[(1−λ)·(softmax(s) − onehot) + λ·τ·(q − p)]. It returns the
// row's cross-entropy and KL(p ‖ q) (without τ²). As in crossEntropy, the
// log-normaliser of a softmax is −log of its largest probability, so
// log p_i − log q_i = (t_i − s_i)/τ − (t_max − s_max)/τ + log p_max − log q_max.
func distillRow(s, t, buf []float32, target int, weight, lambda, temp float32) (ce, kl float64) {
	V := len(s)
	g, diff := buf[:V], buf[V:2*V]
	copy(g, s)
	ce = crossEntropy(g, target, weight*(1-lambda))
	inv := 1 / temp
	sMax, tMax := argmax(s), argmax(t)
	shift := float64(t[tMax]-s[sMax]) * float64(inv)
	for i := range s {
		diff[i] = (t[i] - s[i]) * inv
	}
	simd.Scale(inv, s)
	simd.Scale(inv, t)
	simd.Softmax(s) // q
	simd.Softmax(t) // p
	for i, p := range t {
		kl += float64(p) * float64(diff[i])
	}
	kl += simd.Log64(float64(t[tMax])) - simd.Log64(float64(s[sMax])) - shift
	w := weight * lambda * temp
	for i := range s {
		s[i] = g[i] + w*(s[i]-t[i])
	}
	return ce, kl
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
