package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shear-ai/shear/runtime/internal/reference"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// Gradients are checked against float64 central finite differences of
// float64 forward code that shares nothing with the float32 ops.

const fdStep = 1e-5

// relErr is ‖a − n‖ / max(‖n‖, ‖a‖, 1e-12).
func relErr(a, n []float64) float64 {
	var d, na, nn float64
	for i := range a {
		d += (a[i] - n[i]) * (a[i] - n[i])
		na += a[i] * a[i]
		nn += n[i] * n[i]
	}
	return math.Sqrt(d) / math.Max(math.Max(math.Sqrt(nn), math.Sqrt(na)), 1e-12)
}

func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// numGrad differentiates the scalar f at x (float64) by central differences.
func numGrad(x []float64, f func([]float64) float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + fdStep
		fp := f(x)
		x[i] = old - fdStep
		fm := f(x)
		x[i] = old
		g[i] = (fp - fm) / (2 * fdStep)
	}
	return g
}

// dotLoss is Σ r_i·y_i: a random linear read-out makes every output's
// gradient matter.
func dotLoss(r, y []float64) float64 {
	var s float64
	for i := range r {
		s += r[i] * y[i]
	}
	return s
}

func TestRMSNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, d := 3, 7
	x, w, r := randVec(rng, n*d, 1), randVec(rng, d, 1), randVec(rng, n*d, 1)
	ref := func(x, w []float64) []float64 {
		y := make([]float64, n*d)
		for i := 0; i < n; i++ {
			var ss float64
			for j := 0; j < d; j++ {
				ss += x[i*d+j] * x[i*d+j]
			}
			s := 1 / math.Sqrt(ss/float64(d)+1e-5)
			for j := 0; j < d; j++ {
				y[i*d+j] = x[i*d+j] * s * w[j]
			}
		}
		return y
	}
	y, inv := make([]float32, n*d), make([]float32, n)
	rmsnormForward(y, inv, x, w, n, d, 1e-5)
	dx, dw := make([]float32, n*d), make([]float32, d)
	rmsnormBackward(dx, dw, r, x, w, inv, n, d)
	x64, w64, r64 := f64(x), f64(w), f64(r)
	if e := relErr(f64(dx), numGrad(x64, func(v []float64) float64 { return dotLoss(r64, ref(v, w64)) })); e > 1e-3 {
		t.Errorf("dx rel err %g", e)
	}
	if e := relErr(f64(dw), numGrad(w64, func(v []float64) float64 { return dotLoss(r64, ref(x64, v)) })); e > 1e-3 {
		t.Errorf("dw rel err %g", e)
	}
}

func TestSwiGLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 40
	g, u, r := randVec(rng, n, 2), randVec(rng, n, 2), randVec(rng, n, 1)
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	g64, u64, r64 := f64(g), f64(u), f64(r)
	dg, du := make([]float32, n), make([]float32, n)
	swigluBackward(dg, du, r, g, u)
	fg := func(v []float64) float64 {
		var s float64
		for i := range v {
			s += r64[i] * silu(v[i]) * u64[i]
		}
		return s
	}
	fu := func(v []float64) float64 {
		var s float64
		for i := range v {
			s += r64[i] * silu(g64[i]) * v[i]
		}
		return s
	}
	if e := relErr(f64(dg), numGrad(g64, fg)); e > 1e-3 {
		t.Errorf("dgate rel err %g", e)
	}
	if e := relErr(f64(du), numGrad(u64, fu)); e > 1e-3 {
		t.Errorf("dup rel err %g", e)
	}
	siluBackward(du, r, u)
	fs := func(v []float64) float64 {
		var s float64
		for i := range v {
			s += r64[i] * silu(v[i])
		}
		return s
	}
	if e := relErr(f64(du), numGrad(f64(u), fs)); e > 1e-3 {
		t.Errorf("silu rel err %g", e)
	}
}

func TestCrossEntropyGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	logits := randVec(rng, 11, 3)
	x64 := f64(logits)
	ce := func(v []float64) float64 {
		mx := v[0]
		for _, a := range v {
			mx = math.Max(mx, a)
		}
		var z float64
		for _, a := range v {
			z += math.Exp(a - mx)
		}
		return mx + math.Log(z) - v[4]
	}
	loss := crossEntropy(logits, 4, 1)
	if math.Abs(loss-ce(x64)) > 1e-5 {
		t.Errorf("loss %v, reference %v", loss, ce(x64))
	}
	if e := relErr(f64(logits), numGrad(x64, ce)); e > 1e-3 {
		t.Errorf("dlogits rel err %g", e)
	}
}

// TestAttentionGrad checks q, k, v gradients of causal GQA attention
// (including RoPE on q and k) against a float64 reference.
func TestAttentionGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	B, T, H, KV, hd := 2, 5, 4, 2, 6
	qd, kvd := H*hd, KV*hd
	N := B * T
	q, k, v := randVec(rng, N*qd, 1), randVec(rng, N*kvd, 1), randVec(rng, N*kvd, 1)
	r := randVec(rng, N*qd, 1)
	ropeDim := 4
	cos, sin := make([]float32, T*ropeDim/2), make([]float32, T*ropeDim/2)
	for p := 0; p < T; p++ {
		for i := 0; i < ropeDim/2; i++ {
			th := float64(p) * math.Pow(10000, -2*float64(i)/float64(ropeDim))
			cos[p*ropeDim/2+i], sin[p*ropeDim/2+i] = float32(math.Cos(th)), float32(math.Sin(th))
		}
	}
	// float64 reference of rope + attention, returning o.
	ref := func(q, k, v []float64) []float64 {
		rope := func(x []float64, heads int) []float64 {
			y := append([]float64(nil), x...)
			w := heads * hd
			for row := 0; row < N; row++ {
				p := row % T
				for h := 0; h < heads; h++ {
					for i := 0; i < ropeDim/2; i++ {
						c, s := float64(cos[p*ropeDim/2+i]), float64(sin[p*ropeDim/2+i])
						a, b := x[row*w+h*hd+2*i], x[row*w+h*hd+2*i+1]
						y[row*w+h*hd+2*i], y[row*w+h*hd+2*i+1] = a*c-b*s, a*s+b*c
					}
				}
			}
			return y
		}
		q, k = rope(q, H), rope(k, KV)
		o := make([]float64, N*qd)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				kh := h / (H / KV)
				for i := 0; i < T; i++ {
					sc := make([]float64, i+1)
					mx := math.Inf(-1)
					for j := 0; j <= i; j++ {
						for e := 0; e < hd; e++ {
							sc[j] += q[(b*T+i)*qd+h*hd+e] * k[(b*T+j)*kvd+kh*hd+e]
						}
						sc[j] /= math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[j])
					}
					var z float64
					for j := range sc {
						sc[j] = math.Exp(sc[j] - mx)
						z += sc[j]
					}
					for j := range sc {
						for e := 0; e < hd; e++ {
							o[(b*T+i)*qd+h*hd+e] += sc[j] / z * v[(b*T+j)*kvd+kh*hd+e]
						}
					}
				}
			}
		}
		return o
	}
	qr, kr := append([]float32(nil), q...), append([]float32(nil), k...)
	cfg := &model.Config{Arch: "llama", HeadDim: hd, RopeDim: ropeDim}
	ropeForward(cfg, qr, N, T, H, cos, sin)
	ropeForward(cfg, kr, N, T, KV, cos, sin)
	a := attention{B: B, T: T, H: H, KV: KV, hd: hd, q: qr, k: kr, v: v, o: make([]float32, N*qd),
		probs: make([]float32, B*T*H*T), dq: make([]float32, N*qd), dk: make([]float32, N*kvd), dv: make([]float32, N*kvd), do: r}
	a.forward()
	q64, k64, v64, r64 := f64(q), f64(k), f64(v), f64(r)
	if e := relErr(f64(a.o), ref(q64, k64, v64)); e > 1e-5 {
		t.Fatalf("forward rel err %g", e)
	}
	a.backwardPass()
	ropeBackward(cfg, a.dq, N, T, H, cos, sin)
	ropeBackward(cfg, a.dk, N, T, KV, cos, sin)
	for name, c := range map[string]struct {
		got []float32
		x   []float64
		f   func([]float64) float64
	}{
		"dq": {a.dq, q64, func(x []float64) float64 { return dotLoss(r64, ref(x, k64, v64)) }},
		"dk": {a.dk, k64, func(x []float64) float64 { return dotLoss(r64, ref(q64, x, v64)) }},
		"dv": {a.dv, v64, func(x []float64) float64 { return dotLoss(r64, ref(q64, k64, x)) }},
	} {
		if e := relErr(f64(c.got), numGrad(c.x, c.f)); e > 1e-3 {
			t.Errorf("%s rel err %g", name, e)
		}
	}
}

// TestLinearGrad: x, W, bias, A and B gradients of a LoRA linear.
func TestLinearGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n, in, out, r := 3, 5, 4, 2
	w, _ := tensor.New(out, in, randVec(rng, out*in, 1), tensor.F32)
	mod := &lora.Module{In: in, Out: out, Rank: r, Scale: 1.5, A: randVec(rng, r*in, 1), B: randVec(rng, out*r, 1)}
	bias := randVec(rng, out, 1)
	l := newLinear(w, bias, mod, 0, true, n, &pool{}, "q", false, in, n*max(in, out))
	x, rr := randVec(rng, n*in, 1), randVec(rng, n*out, 1)
	y := make([]float32, n*out)
	var s tensor.Scratch
	l.forward(y, x, n, &s, nil)
	dx := make([]float32, n*in)
	l.backward(dx, rr, x, n)
	x64, w64, b64, a64, bb64, r64 := f64(x), f64(w.F32), f64(bias), f64(mod.A), f64(mod.B), f64(rr)
	ref := func(x, w, b, A, B []float64) float64 {
		var loss float64
		for i := 0; i < n; i++ {
			for o := 0; o < out; o++ {
				v := b[o]
				for j := 0; j < in; j++ {
					v += w[o*in+j] * x[i*in+j]
				}
				for k := 0; k < r; k++ {
					var ax float64
					for j := 0; j < in; j++ {
						ax += A[k*in+j] * x[i*in+j]
					}
					v += 1.5 * B[o*r+k] * ax
				}
				loss += r64[i*out+o] * v
			}
		}
		return loss
	}
	checks := []struct {
		name string
		got  []float32
		x    []float64
		f    func([]float64) float64
	}{
		{"dx", dx, x64, func(v []float64) float64 { return ref(v, w64, b64, a64, bb64) }},
		{"dW", l.GW, w64, func(v []float64) float64 { return ref(x64, v, b64, a64, bb64) }},
		{"db", l.GBias, b64, func(v []float64) float64 { return ref(x64, w64, v, a64, bb64) }},
		{"dA", l.GA, a64, func(v []float64) float64 { return ref(x64, w64, b64, v, bb64) }},
		{"dB", l.GB, bb64, func(v []float64) float64 { return ref(x64, w64, b64, a64, v) }},
	}
	for _, c := range checks {
		if e := relErr(f64(c.got), numGrad(c.x, c.f)); e > 1e-3 {
			t.Errorf("%s rel err %g", c.name, e)
		}
	}
}

// tinyModel is a random model small enough for finite differences.
func tinyModel(t *testing.T, mod func(c *model.Config)) *model.Model {
	c := model.UniformConfig(16, 24, 2, 4, 2, 30, 32)
	if mod != nil {
		mod(&c)
	}
	m, err := model.NewRandom(c, tensor.F32, 11)
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than the default, so every path carries signal.
	rng := rand.New(rand.NewPCG(12, 13))
	for _, r := range m.Matrices() {
		w := *r.Mat
		for i := range w.F32 {
			w.F32[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	return m
}

func tinyBatch(B, T, vocab int) ([]int, []int) {
	rng := rand.New(rand.NewPCG(14, 15))
	tokens, targets := make([]int, B*T), make([]int, B*T)
	for i := range tokens {
		tokens[i] = rng.IntN(vocab)
		targets[i] = rng.IntN(vocab)
	}
	targets[3] = -1 // ignored positions take no part
	return tokens, targets
}

// refLoss is the mean loss over B sequences with the float64 reference.
func refLoss(r *reference.Model, tokens, targets []int, B, T int) float64 {
	var sum float64
	count := 0
	for b := 0; b < B; b++ {
		tg := targets[b*T : (b+1)*T]
		n := 0
		for _, x := range tg {
			if x >= 0 {
				n++
			}
		}
		if n > 0 {
			sum += r.Loss(tokens[b*T:(b+1)*T], tg) * float64(n)
			count += n
		}
	}
	return sum / float64(count)
}

// refSlot returns the float64 numbers behind a full-training parameter.
func refSlot(r *reference.Model, name string) (get func(i int) *float64) {
	flat := func(m reference.Mat) func(i int) *float64 {
		return func(i int) *float64 { cols := len(m[0]); return &m[i/cols][i%cols] }
	}
	vec := func(v []float64) func(i int) *float64 { return func(i int) *float64 { return &v[i] } }
	switch name {
	case "token_embd.weight":
		return flat(r.Embed)
	case "output.weight":
		return flat(r.Output)
	case "output_norm.weight":
		return vec(r.OutNorm)
	}
	l, base, suffix, err := model.SplitName(name)
	if err != nil || l < 0 {
		return nil
	}
	rest := base + "." + suffix
	L := &r.Layers[l]
	return map[string]func(i int) *float64{
		"attn_norm.weight": vec(L.AttnNorm), "ffn_norm.weight": vec(L.FFNNorm),
		"attn_q.weight": flat(L.Wq), "attn_k.weight": flat(L.Wk), "attn_v.weight": flat(L.Wv), "attn_output.weight": flat(L.Wo),
		"ffn_gate.weight": flat(L.Wgate), "ffn_up.weight": flat(L.Wup), "ffn_down.weight": flat(L.Wdown),
		"attn_q.bias": vec(L.Bq), "attn_k.bias": vec(L.Bk), "attn_v.bias": vec(L.Bv),
		"attn_output.bias": vec(L.Bo), "ffn_down.bias": vec(L.Bdown),
		"attn_q_norm.weight": vec(L.QNorm), "attn_k_norm.weight": vec(L.KNorm),
	}[rest]
}

// TestFullModelGrad: every parameter tensor's gradient (sampled entries)
// against finite differences of the float64 reference model, for GQA with
// tied embeddings, MHA untied with biases, an MLP without gate, and the
// families: Qwen2 (biases, NeoX RoPE), Qwen3 (per-head q/k norms, a head
// size other than dim/heads) and Llama-3 rope scaling.
func TestFullModelGrad(t *testing.T) {
	variants := map[string]func(c *model.Config){
		"qwen2": func(c *model.Config) { c.Arch, c.QKVBias, c.Tied = "qwen2", true, true },
		"qwen3": func(c *model.Config) { c.Arch, c.QKNorm, c.HeadDim, c.RopeDim = "qwen3", true, 6, 6 },
		"llama3": func(c *model.Config) {
			c.RopeScaling = model.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OrigCtx: 8}
		},
		"gqa-tied": func(c *model.Config) { c.Tied = true },
		"mha-bias": func(c *model.Config) { c.KVHeads = []int{4, 4}; c.QKVBias = true },
		"out-bias": func(c *model.Config) { c.OutBias = true },
		"nogate-widths": func(c *model.Config) {
			c.Gated = false
			c.Heads, c.KVHeads, c.FFN = []int{4, 2}, []int{2, 1}, []int{24, 12}
		},
	}
	for name, mod := range variants {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, mod)
			B, T := 2, 6
			tr, err := New(m, Options{Full: true, Batch: B, Ctx: T})
			if err != nil {
				t.Fatal(err)
			}
			tokens, targets := tinyBatch(B, T, m.Vocab)
			loss, _, err := tr.Step(tokens, targets, 1)
			if err != nil {
				t.Fatal(err)
			}
			ref := reference.FromModel(m)
			if d := math.Abs(loss - refLoss(ref, tokens, targets, B, T)); d > 1e-4 {
				t.Fatalf("loss %v differs from the reference by %g", loss, d)
			}
			rng := rand.New(rand.NewPCG(16, 17))
			for _, p := range tr.Params() {
				slot := refSlot(ref, p.Name)
				if slot == nil {
					t.Fatalf("no reference slot for %s", p.Name)
				}
				var got, num []float64
				for s := 0; s < 6; s++ {
					i := rng.IntN(len(p.W))
					if p.Name == "token_embd.weight" {
						i = tokens[rng.IntN(len(tokens))]*m.Dim + rng.IntN(m.Dim)
					}
					x := slot(i)
					old := *x
					*x = old + fdStep
					fp := refLoss(ref, tokens, targets, B, T)
					*x = old - fdStep
					fm := refLoss(ref, tokens, targets, B, T)
					*x = old
					got = append(got, float64(p.G[i]))
					num = append(num, (fp-fm)/(2*fdStep))
				}
				if e := relErr(got, num); e > 1e-3 {
					t.Errorf("%s: rel err %g (analytic %v, numeric %v)", p.Name, e, got, num)
				}
			}
		})
	}
}

// TestLoRAModelGrad: A and B gradients of every adapted projection, with
// the reference running the merged weights W + s·B·A in float64; also
// through Qwen3's frozen per-head q/k norms and NeoX RoPE.
func TestLoRAModelGrad(t *testing.T) {
	for name, mod := range map[string]func(c *model.Config){
		"gqa-tied": func(c *model.Config) { c.Tied = true },
		"qwen3":    func(c *model.Config) { c.Arch, c.QKNorm, c.HeadDim, c.RopeDim, c.Tied = "qwen3", true, 6, 6, true },
	} {
		t.Run(name, func(t *testing.T) { checkLoRAModelGrad(t, tinyModel(t, mod)) })
	}
}

func checkLoRAModelGrad(t *testing.T, m *model.Model) {
	B, T := 2, 6
	cfg := lora.DefaultConfig()
	cfg.Dropout, cfg.Rank, cfg.Alpha = 0, 2, 4
	tr, err := New(m, Options{LoRA: cfg, Batch: B, Ctx: T, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 19))
	for _, mods := range tr.Adapter.Modules {
		for _, mod := range mods {
			if mod != nil {
				copy(mod.B, randVec(rng, len(mod.B), 0.3)) // B = 0 would make dA vanish
			}
		}
	}
	tokens, targets := tinyBatch(B, T, m.Vocab)
	if _, _, err := tr.Step(tokens, targets, 1); err != nil {
		t.Fatal(err)
	}
	ref := reference.FromModel(m)
	base := reference.FromModel(m)
	// merged writes base + s·B·A into the reference for layer l, target tg.
	merged := func(l int, tg lora.Target) {
		mod := tr.Adapter.Modules[l][tg]
		dst := [lora.NumTargets]reference.Mat{ref.Layers[l].Wq, ref.Layers[l].Wk, ref.Layers[l].Wv, ref.Layers[l].Wo,
			ref.Layers[l].Wgate, ref.Layers[l].Wup, ref.Layers[l].Wdown}[tg]
		src := [lora.NumTargets]reference.Mat{base.Layers[l].Wq, base.Layers[l].Wk, base.Layers[l].Wv, base.Layers[l].Wo,
			base.Layers[l].Wgate, base.Layers[l].Wup, base.Layers[l].Wdown}[tg]
		for o := 0; o < mod.Out; o++ {
			for i := 0; i < mod.In; i++ {
				v := src[o][i]
				for r := 0; r < mod.Rank; r++ {
					v += float64(mod.Scale) * float64(mod.B[o*mod.Rank+r]) * float64(mod.A[r*mod.In+i])
				}
				dst[o][i] = v
			}
		}
	}
	for l := range tr.Adapter.Modules {
		for tg := lora.Target(0); tg < lora.NumTargets; tg++ {
			merged(l, tg)
		}
	}
	for l := range tr.Adapter.Modules {
		for tg := lora.Target(0); tg < lora.NumTargets; tg++ {
			mod := tr.Adapter.Modules[l][tg]
			lin := [lora.NumTargets]*linear{tr.layers[l].q, tr.layers[l].k, tr.layers[l].v, tr.layers[l].o,
				tr.layers[l].gate, tr.layers[l].up, tr.layers[l].down}[tg]
			for _, part := range []struct {
				name string
				w    []float32
				g    []float32
			}{{"A", mod.A, lin.GA}, {"B", mod.B, lin.GB}} {
				var got, num []float64
				for s := 0; s < 4; s++ {
					i := rng.IntN(len(part.w))
					old := part.w[i]
					eval := func(v float32) float64 {
						part.w[i] = v
						merged(l, tg)
						return refLoss(ref, tokens, targets, B, T)
					}
					// Perturb in float64 through the merge: h chosen so v ± h is exact in float32.
					h := float32(1.0 / 1024)
					fp, fm := eval(old+h), eval(old-h)
					part.w[i] = old
					merged(l, tg)
					got = append(got, float64(part.g[i]))
					num = append(num, (fp-fm)/(2*float64(h)))
				}
				if e := relErr(got, num); e > 1e-3 {
					t.Errorf("layer %d %s %s: rel err %g (analytic %v, numeric %v)", l, tg, part.name, e, got, num)
				}
			}
		}
	}
}

// refDistill is the float64 distillation objective of one row:
// (1−λ)·CE(s, target) + λ·τ²·KL(softmax(t/τ) ‖ softmax(s/τ)), and its KL.
func refDistill(s, t []float64, target int, lambda, temp float64) (obj, kl float64) {
	logSoftmax := func(v []float64, temp float64) []float64 {
		mx := math.Inf(-1)
		for _, a := range v {
			mx = math.Max(mx, a/temp)
		}
		var z float64
		for _, a := range v {
			z += math.Exp(a/temp - mx)
		}
		out := make([]float64, len(v))
		for i, a := range v {
			out[i] = a/temp - mx - math.Log(z)
		}
		return out
	}
	ls, lp, lq := logSoftmax(s, 1), logSoftmax(t, temp), logSoftmax(s, temp)
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return (1-lambda)*-ls[target] + lambda*temp*temp*kl, kl
}

// TestDistillRowGrad: the distillation gradient of one row of logits
// against finite differences of the float64 objective, for several
// weights λ and temperatures τ (τ < 1 and τ > 1 both scale the KL term).
func TestDistillRowGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ lambda, temp float64 }{{0.5, 2}, {1, 1}, {0.3, 0.6}, {0.9, 4}} {
		s, te := randVec(rng, 13, 3), randVec(rng, 13, 3)
		s64, t64 := f64(s), f64(te)
		const w = 0.7
		buf := make([]float32, 26)
		ce, kl := distillRow(s, te, buf, 5, w, float32(c.lambda), float32(c.temp))
		_, refKL := refDistill(s64, t64, 5, c.lambda, c.temp)
		refCE, _ := refDistill(s64, t64, 5, 0, c.temp)
		if math.Abs(ce-refCE) > 1e-5 || math.Abs(kl-refKL) > 1e-5 {
			t.Errorf("λ %g τ %g: ce %v kl %v, reference %v %v", c.lambda, c.temp, ce, kl, refCE, refKL)
		}
		obj := func(v []float64) float64 { o, _ := refDistill(v, t64, 5, c.lambda, c.temp); return w * o }
		if e := relErr(f64(s), numGrad(s64, obj)); e > 1e-3 {
			t.Errorf("λ %g τ %g: dlogits rel err %g", c.lambda, c.temp, e)
		}
	}
}

// TestDistillModelGrad: full training with a teacher of other widths;
// every parameter's gradient (sampled) against finite differences of the
// float64 objective (mean over scored positions of the distillation loss)
// with the teacher's logits from the float64 reference. The batch has more
// rows than one logit chunk, so the teacher's rows must line up across
// chunks.
func TestDistillModelGrad(t *testing.T) {
	const lambda, temp = 0.6, 2.0
	m := tinyModel(t, func(c *model.Config) { c.Tied = true })
	tm := tinyModel(t, func(c *model.Config) { c.Tied = true; c.FFN = []int{32, 40} })
	B, T := 3, 30
	tr, err := New(m, Options{Full: true, Batch: B, Ctx: T})
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := New(tm, Options{Frozen: true, Batch: B, Ctx: T})
	if err != nil {
		t.Fatal(err)
	}
	if len(teacher.Params()) != 0 {
		t.Fatalf("a frozen trainer has %d parameters", len(teacher.Params()))
	}
	if err := tr.SetTeacher(teacher, lambda, temp); err != nil {
		t.Fatal(err)
	}
	tokens, targets := tinyBatch(B, T, m.Vocab)
	loss, _, err := tr.Step(tokens, targets, 1)
	if err != nil {
		t.Fatal(err)
	}
	tref := reference.FromModel(tm)
	tlog := make([][]float64, 0, B*T)
	for b := 0; b < B; b++ {
		tlog = append(tlog, tref.Logits(tokens[b*T:(b+1)*T])...)
	}
	ref := reference.FromModel(m)
	objective := func() (obj, ce, kl float64) {
		n := 0
		for b := 0; b < B; b++ {
			logits := ref.Logits(tokens[b*T : (b+1)*T])
			for i, tg := range targets[b*T : (b+1)*T] {
				if tg < 0 {
					continue
				}
				o, k := refDistill(logits[i], tlog[b*T+i], tg, lambda, temp)
				c, _ := refDistill(logits[i], tlog[b*T+i], tg, 0, temp)
				obj, ce, kl, n = obj+o, ce+c, kl+k, n+1
			}
		}
		return obj / float64(n), ce / float64(n), kl / float64(n)
	}
	_, ce, kl := objective()
	if math.Abs(loss-ce) > 1e-4 || math.Abs(tr.KL()-kl) > 1e-4 {
		t.Fatalf("step loss %v KL %v, reference CE %v KL %v", loss, tr.KL(), ce, kl)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, p := range tr.Params() {
		slot := refSlot(ref, p.Name)
		var got, num []float64
		for s := 0; s < 4; s++ {
			i := rng.IntN(len(p.W))
			if p.Name == "token_embd.weight" {
				i = tokens[rng.IntN(len(tokens))]*m.Dim + rng.IntN(m.Dim)
			}
			x := slot(i)
			old := *x
			*x = old + fdStep
			fp, _, _ := objective()
			*x = old - fdStep
			fm, _, _ := objective()
			*x = old
			got = append(got, float64(p.G[i]))
			num = append(num, (fp-fm)/(2*fdStep))
		}
		if e := relErr(got, num); e > 1e-3 {
			t.Errorf("%s: rel err %g (analytic %v, numeric %v)", p.Name, e, got, num)
		}
	}
	// Loss (evaluation) stays plain cross-entropy.
	if l, _, err := tr.Loss(tokens, targets); err != nil || math.Abs(l-ce) > 1e-4 {
		t.Errorf("Loss %v (%v), reference CE %v", l, err, ce)
	}
}
