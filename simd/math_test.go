package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulp64 is the distance between a and b in float64 steps.
func ulp64(a, b float64) int64 {
	d := int64(math.Float64bits(a)) - int64(math.Float64bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

func TestExp64Log64(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	var maxE, maxL int64
	for i := 0; i < 300000; i++ {
		var x float64
		switch i % 3 {
		case 0:
			x = r.NormFloat64() * 3
		case 1:
			x = (r.Float64()*2 - 1) * 700
		default:
			x = (r.Float64() - 0.5) * 1e-6
		}
		if d := ulp64(Exp64(x), math.Exp(x)); d > maxE {
			maxE = d
		}
		y := math.Exp(r.NormFloat64() * 50)
		if i%5 == 0 {
			y = 1 + (r.Float64()-0.5)*1e-3 // near 1: cancellation
		}
		if d := ulp64(Log64(y), math.Log(y)); d > maxL {
			maxL = d
		}
	}
	t.Logf("max error vs math: Exp64 %d ulp, Log64 %d ulp", maxE, maxL)
	if maxE > 3 || maxL > 3 {
		t.Errorf("Exp64 %d ulp, Log64 %d ulp from the standard library; want ≤ 3", maxE, maxL)
	}
	inf := math.Inf(1)
	for _, c := range []struct{ got, want float64 }{
		{Exp64(0), 1}, {Exp64(1000), inf}, {Exp64(-1000), 0}, {Exp64(-inf), 0}, {Exp64(inf), inf},
		{Log64(1), 0}, {Log64(0), -inf}, {Log64(inf), inf}, {Pow64(2, 10), 1024}, {Pow64(10000, -0.25), 0.1},
	} {
		if c.got != c.want && ulp64(c.got, c.want) > 2 {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	if !math.IsNaN(Exp64(math.NaN())) || !math.IsNaN(Log64(-1)) || !math.IsNaN(Log64(math.NaN())) {
		t.Error("NaN cases")
	}
	// Subnormal results and arguments.
	if got, want := Exp64(-740), math.Exp(-740); math.Abs(got-want) > 0x1p-1070 {
		t.Errorf("Exp64(-740) = %g, want %g", got, want)
	}
	// (amd64's math.Log returns -709.09 here: its assembly does not handle
	// subnormals.)
	if got, want := Log64(5e-324), -1074*math.Ln2; ulp64(got, want) > 2 {
		t.Errorf("Log64(min subnormal) = %v, want %v", got, want)
	}
}
