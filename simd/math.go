package simd

import "math"

// Exp64, Log64 and Pow64 are float64 elementary functions in portable Go
// that give the same bits on every platform. The standard library's Exp
// and Log are assembly on amd64 and Go elsewhere, and the two disagree in
// the last bit for some inputs, which was enough to make a perplexity
// computed in the WebAssembly guest differ from the native one. Shear's
// evaluation, sampling, RoPE tables and training use these instead.
// Accuracy: within a few ulp of the correctly rounded result (tested).
// Every product that is rounded on its own is written with an explicit
// conversion, so that no platform fuses it into a multiply-add.

const (
	// ln 2 split so that k·ln2Hi is exact for |k| < 2¹¹ (Cody–Waite).
	ln2Hi  = 6.93147180369123816490e-01
	ln2Lo  = 1.90821492927058770002e-10
	log2e  = 1.44269504088896338700e+00
	expMax = 7.09782712893383973096e+02  // above: overflow
	expMin = -7.45133219101941108420e+02 // below: underflow to 0
)

// Exp64 returns e^x.
func Exp64(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return math.Inf(1)
	case x < expMin:
		return 0
	}
	k := math.Floor(float64(x*log2e) + 0.5)
	r := x - float64(k*ln2Hi)
	r -= float64(k * ln2Lo)
	// e^r, |r| ≤ ln2/2, by its Taylor series to r¹³ (truncation < 1e-17).
	p := 1.0 / 6227020800 // 1/13!
	for _, c := range expTaylor {
		p = float64(p*r) + c
	}
	if k > -1020 && k < 1020 {
		// p·2^k is an exact product of normal numbers here: build 2^k
		// from its bits (math.Ldexp handles the general case slowly).
		return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
	}
	return math.Ldexp(p, int(k))
}

// expTaylor holds 1/12!, 1/11!, …, 1/1!, 1/0! for Exp64's Horner scheme.
var expTaylor = [...]float64{
	1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040,
	1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1, 1,
}

// Log64 returns the natural logarithm of x.
func Log64(x float64) float64 {
	switch {
	case x != x || math.IsInf(x, 1):
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	m, e := math.Frexp(x) // x = m·2^e, m in [½, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		e--
	}
	// log m = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …), s = (m−1)/(m+1),
	// |s| ≤ 0.1716: thirteen terms leave less than 1e-19.
	s := (m - 1) / (m + 1)
	z := float64(s * s)
	p := 1.0 / 25
	for k := 11; k >= 0; k-- {
		p = float64(p*z) + 1/float64(2*k+1)
	}
	f := float64(2 * s * p)
	fe := float64(e)
	return float64(fe*ln2Hi) + (float64(fe*ln2Lo) + f)
}

// Pow64 returns x^y for x > 0 as e^(y·log x); for x ≤ 0 or non-finite
// arguments it defers to math.Pow.
func Pow64(x, y float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) || math.IsInf(y, 0) || y != y {
		return math.Pow(x, y)
	}
	return Exp64(float64(y * Log64(x)))
}
