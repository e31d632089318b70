package train

import (
	"math"

	"github.com/shear-ai/shear/simd"
)

// Each op's forward sits next to its backward (llm.c style). Rows are
// tokens; n is the number of rows. Backward functions accumulate into
// parameter gradients (+=) and write or accumulate input gradients as
// their comments say.

// rmsnormForward: y = x · inv · w, inv = 1/√(mean(x²)+ε), per row. It
// stores inv for the backward pass.
func rmsnormForward(y, inv, x, w []float32, n, d int, eps float32) {
	for i := 0; i < n; i++ {
		xr := x[i*d : (i+1)*d]
		var ss float32
		for _, v := range xr {
			ss += v * v
		}
		s := float32(1 / math.Sqrt(float64(ss/float32(d)+eps)))
		inv[i] = s
		yr := y[i*d : (i+1)*d]
		for j, v := range xr {
			yr[j] = v * s * w[j]
		}
	}
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
		sig := float32(1 / (1 + math.Exp(-float64(gv))))
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
		sig := float32(1 / (1 + math.Exp(-float64(uv))))
		du[i] = dh[i] * sig * (1 + uv*(1-sig))
	}
}

// ropeForward rotates the adjacent pairs of every head of each row in
// place; row i of sequence position p uses cos/sin of p.
func ropeForward(x []float32, n, T, heads, hd, ropeDim int, cos, sin []float32) {
	half := ropeDim / 2
	w := heads * hd
	for i := 0; i < n; i++ {
		p := i % T
		simd.RoPE(x[i*w:(i+1)*w], heads, hd, ropeDim, cos[p*half:(p+1)*half], sin[p*half:(p+1)*half])
	}
}

// ropeBackward applies the inverse rotation to the gradient in place.
func ropeBackward(dx []float32, n, T, heads, hd, ropeDim int, cos, sin []float32) {
	half := ropeDim / 2
	w := heads * hd
	for i := 0; i < n; i++ {
		p := i % T
		simd.RoPEBack(dx[i*w:(i+1)*w], heads, hd, ropeDim, cos[p*half:(p+1)*half], sin[p*half:(p+1)*half])
	}
}

// attention is causal grouped-query attention over B sequences of T
// tokens. Forward: P = softmax(q·kᵀ/√hd) (causal), o = P·v; P is kept for
// the backward. Work items are (sequence, KV head) pairs so the backward
// can accumulate dk, dv of a group without races.
type attention struct {
	B, T, H, KV, hd int
	q, k, v, probs  []float32 // probs [B × H × T × T]
	o               []float32
	dq, dk, dv, do  []float32
	backward        bool
}

func (a *attention) forward() {
	a.backward = false
	simd.ParallelFor(a.B*a.KV, 1, a)
}

// backwardPass overwrites dq, dk, dv from do.
func (a *attention) backwardPass() {
	a.backward = true
	simd.ParallelFor(a.B*a.KV, 1, a)
}

func (a *attention) Run(lo, hi int) {
	for item := lo; item < hi; item++ {
		b, kh := item/a.KV, item%a.KV
		group := a.H / a.KV
		for h := kh * group; h < (kh+1)*group; h++ {
			if a.backward {
				a.backwardHead(b, h, kh)
			} else {
				a.forwardHead(b, h, kh)
			}
		}
	}
}

func (a *attention) forwardHead(b, h, kh int) {
	T, hd := a.T, a.hd
	qd, kvd := a.H*hd, a.KV*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	for i := 0; i < T; i++ {
		row := (b*T + i)
		qi := a.q[row*qd+h*hd : row*qd+(h+1)*hd]
		p := a.probs[((b*a.H+h)*T+i)*T : ((b*a.H+h)*T+i)*T+T]
		for j := 0; j <= i; j++ {
			kj := a.k[(b*T+j)*kvd+kh*hd : (b*T+j)*kvd+(kh+1)*hd]
			p[j] = dot(qi, kj) * scale
		}
		simd.Softmax(p[:i+1])
		clear(p[i+1:])
		o := a.o[row*qd+h*hd : row*qd+(h+1)*hd]
		clear(o)
		for j := 0; j <= i; j++ {
			axpy(p[j], a.v[(b*T+j)*kvd+kh*hd:(b*T+j)*kvd+(kh+1)*hd], o)
		}
	}
}

// backwardHead: dP_ij = ⟨do_i, v_j⟩; dv_j += P_ij·do_i;
// dS_ij = P_ij·(dP_ij − Σ_k P_ik·dP_ik); dq_i = s·Σ_j dS_ij·k_j; dk_j += s·dS_ij·q_i.
// The first head of a group clears dk, dv of the group.
func (a *attention) backwardHead(b, h, kh int) {
	T, hd := a.T, a.hd
	qd, kvd := a.H*hd, a.KV*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	if h%(a.H/a.KV) == 0 {
		for j := 0; j < T; j++ {
			clear(a.dk[(b*T+j)*kvd+kh*hd : (b*T+j)*kvd+(kh+1)*hd])
			clear(a.dv[(b*T+j)*kvd+kh*hd : (b*T+j)*kvd+(kh+1)*hd])
		}
	}
	for i := 0; i < T; i++ {
		row := b*T + i
		doi := a.do[row*qd+h*hd : row*qd+(h+1)*hd]
		qi := a.q[row*qd+h*hd : row*qd+(h+1)*hd]
		dqi := a.dq[row*qd+h*hd : row*qd+(h+1)*hd]
		p := a.probs[((b*a.H+h)*T+i)*T : ((b*a.H+h)*T+i)*T+T]
		// Σ_k P_ik dP_ik, with dP_ik = ⟨do_i, v_k⟩.
		var sum float32
		for j := 0; j <= i; j++ {
			vj := a.v[(b*T+j)*kvd+kh*hd : (b*T+j)*kvd+(kh+1)*hd]
			sum += p[j] * dot(doi, vj)
		}
		clear(dqi)
		for j := 0; j <= i; j++ {
			off := (b*T+j)*kvd + kh*hd
			vj, kj := a.v[off:off+hd], a.k[off:off+hd]
			dp := dot(doi, vj)
			axpy(p[j], doi, a.dv[off:off+hd])
			ds := p[j] * (dp - sum) * scale
			axpy(ds, kj, dqi)
			axpy(ds, qi, a.dk[off:off+hd])
		}
	}
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
// loss −log p[target].
func crossEntropy(logits []float32, target int, weight float32) float64 {
	maxv := logits[0]
	for _, v := range logits {
		maxv = max(maxv, v)
	}
	zt := float64(logits[target] - maxv)
	var z float64
	for i, v := range logits {
		e := math.Exp(float64(v - maxv))
		logits[i] = float32(e)
		z += e
	}
	loss := math.Log(z) - zt
	inv := float32(1/z) * weight
	for i := range logits {
		logits[i] *= inv
	}
	logits[target] -= weight
	return loss
}
