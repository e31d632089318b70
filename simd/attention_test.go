package simd

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAttention compares Attention with float64 causal attention over
// small and large heads, grouped KV heads, batches and cache offsets.
func TestAttention(t *testing.T) {
	forPaths(t, testAttention)
}

func testAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct{ n, pos, heads, kvHeads, headDim int }{
		{1, 0, 1, 1, 8}, {1, 7, 8, 4, 8}, {5, 3, 6, 6, 48}, {3, 0, 8, 2, 64}, {1, 40, 4, 1, 32},
	} {
		ctx := c.pos + c.n + 2
		qd, kvd := c.heads*c.headDim, c.kvHeads*c.headDim
		q := randSlice(r, c.n*qd)
		k, v := randSlice(r, (c.pos+c.n)*kvd), randSlice(r, (c.pos+c.n)*kvd)
		out := randSlice(r, c.n*qd) // overwritten
		scores := make([]float32, c.n*c.heads*ctx)
		Attention(out, q, k, v, scores, c.n, c.pos, c.heads, c.kvHeads, c.headDim, ctx)
		group := c.heads / c.kvHeads
		for i := range c.n {
			for h := range c.heads {
				kh, p := h/group, c.pos+i
				w := make([]float64, p+1)
				m := math.Inf(-1)
				for j := range w {
					for e := range c.headDim {
						w[j] += float64(q[i*qd+h*c.headDim+e]) * float64(k[j*kvd+kh*c.headDim+e])
					}
					w[j] /= math.Sqrt(float64(c.headDim))
					m = max(m, w[j])
				}
				var z float64
				for j := range w {
					w[j] = math.Exp(w[j] - m)
					z += w[j]
				}
				for e := range c.headDim {
					var want float64
					for j := range w {
						want += w[j] / z * float64(v[j*kvd+kh*c.headDim+e])
					}
					got := out[i*qd+h*c.headDim+e]
					if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("%+v row %d head %d elem %d: got %v, want %v", c, i, h, e, got, want)
					}
				}
			}
		}
	}
}

func TestAttentionBadSizes(t *testing.T) {
	buf := make([]float32, 64)
	for _, c := range []struct {
		name                                     string
		n, pos, heads, kvHeads, headDim, ctx, qn int
	}{
		{"ctx shorter than the rows", 2, 3, 2, 1, 4, 4, 64},
		{"heads not a multiple of kv heads", 1, 0, 3, 2, 4, 1, 64},
		{"short buffers", 2, 0, 4, 4, 8, 2, 10},
		{"zero kv heads", 1, 0, 1, 0, 4, 1, 64},
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, "Attention") {
					t.Errorf("%s: want an Attention panic, got %q", c.name, msg)
				}
			}()
			Attention(buf, buf[:c.qn], buf, buf, buf, c.n, c.pos, c.heads, c.kvHeads, c.headDim, c.ctx)
		}()
	}
}
