package simd

// The portable kernels behind RMSNorm, the RoPE rotations and Attention's
// loops: the models the NEON kernels (nn_arm64.s) reproduce bit
// for bit, and the code every other build runs (nn_portable.go). Products
// are written float32(a*b) so that Go does not fuse them into the
// following addition on arm64 and the bits are amd64's and wasm's.

// sumSquaresGeneric returns Σ float64(x[i]*x[i]), summed in order.
func sumSquaresGeneric(x []float32) float64 {
	var ss float64
	for _, v := range x {
		ss += float64(v * v)
	}
	return ss
}

// normScaleGeneric sets out[i] = (x[i]*s)*w[i].
func normScaleGeneric(out, x, w []float32, s float32) {
	w = w[:len(x)]
	out = out[:len(x)]
	for i, v := range x {
		out[i] = (v * s) * w[i]
	}
}

// ropePairsGeneric rotates the pairs (v[2i], v[2i+1]) by the angle of
// cos[i], sin[i] (RoPE), or back by it (RoPEBack).
func ropePairsGeneric(v, cos, sin []float32, back bool) {
	v = v[:2*len(cos)]
	sin = sin[:len(cos)]
	for i, c := range cos {
		s := sin[i]
		x0, x1 := v[2*i], v[2*i+1]
		if back {
			v[2*i] = float32(x0*c) + float32(x1*s)
			v[2*i+1] = float32(x1*c) - float32(x0*s)
		} else {
			v[2*i] = float32(x0*c) - float32(x1*s)
			v[2*i+1] = float32(x0*s) + float32(x1*c)
		}
	}
}

// ropeHalvesGeneric is ropePairsGeneric for the pairs (a[i], b[i])
// (RoPENeox, RoPENeoxBack).
func ropeHalvesGeneric(a, b, cos, sin []float32, back bool) {
	a, b, sin = a[:len(cos)], b[:len(cos)], sin[:len(cos)]
	for i, c := range cos {
		s := sin[i]
		x0, x1 := a[i], b[i]
		if back {
			a[i] = float32(x0*c) + float32(x1*s)
			b[i] = float32(x1*c) - float32(x0*s)
		} else {
			a[i] = float32(x0*c) - float32(x1*s)
			b[i] = float32(x0*s) + float32(x1*c)
		}
	}
}

// headScoresGeneric sets sc[j] = (Σ_e float32(q[e]*k[j*stride+e]))*scale
// for j < len(sc), each sum in order e = 0, 1, …: one head's scores
// against the cached keys, whose rows are stride apart.
func headScoresGeneric(sc, q, k []float32, stride int, scale float32) {
	for j := range sc {
		kj := k[j*stride : j*stride+len(q)]
		var dot float32
		for e, qv := range q {
			dot += float32(qv * kj[e])
		}
		sc[j] = dot * scale
	}
}

// headMixGeneric adds Σ_j float32(sc[j]*v[j*stride+e]) to o[e], in order
// j = 0, 1, …: one head's output from its attention weights.
func headMixGeneric(o, v, sc []float32, stride int) {
	for j, a := range sc {
		vj := v[j*stride : j*stride+len(o)]
		for e := range o {
			o[e] += float32(a * vj[e])
		}
	}
}

// headDotsLoop sets sc[j] = Dot(q, k[j*stride:][:len(q)])*scale: the
// large-head scores, one Dot per position (which the NEON kernel fuses
// into one call with the same bits).
func headDotsLoop(sc, q, k []float32, stride int, scale float32) {
	for j := range sc {
		sc[j] = Dot(q, k[j*stride:j*stride+len(q)]) * scale
	}
}

// headAxpysLoop adds sc[j]*v[j*stride:][:len(o)] to o for j = 0, 1, …,
// one Axpy each: the large-head output.
func headAxpysLoop(o, v, sc []float32, stride int) {
	for j, a := range sc {
		Axpy(a, v[j*stride:j*stride+len(o)], o)
	}
}
