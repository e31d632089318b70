package valid

import (
	"math"
	"testing"
)

// TestFloat: every non-finite value is refused whatever the range, and
// the ends are in or out as the range says.
func TestFloat(t *testing.T) {
	cases := []struct {
		v    float64
		r    Range
		want bool
	}{
		{math.NaN(), Fraction, false},
		{math.NaN(), NonNegative, false},
		{math.Inf(1), NonNegative, false},
		{math.Inf(-1), Range{Lo: math.Inf(-1), Hi: 0}, false},
		{0, Fraction, false},
		{1, Fraction, false},
		{math.Nextafter(0, 1), Fraction, true},
		{math.Nextafter(1, 0), Fraction, true},
		{0, UnitInterval, true},
		{1, UnitInterval, true},
		{1, HalfOpenUnit, false},
		{0, Positive, false},
		{0, NonNegative, true},
		{-1e-300, NonNegative, false},
		{math.MaxFloat64, Positive, true},
	}
	for _, c := range cases {
		err := Float("--x", c.v, c.r)
		if (err == nil) != c.want {
			t.Errorf("Float(%v, %v) = %v, want accepted %v", c.v, c.r, err, c.want)
		}
	}
	if got, want := Float("--target", math.NaN(), Fraction).Error(), "--target NaN: must be a finite number in (0, 1)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if got, want := Float("--lr", -1, Positive).Error(), "--lr -1: must be a finite number in (0, ∞)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		v, lo, hi int
		want      bool
	}{{0, 0, 0, true}, {-1, 0, 5, false}, {6, 0, 5, false}, {5, 0, 5, true}, {math.MaxInt, 1, math.MaxInt, true}} {
		if err := Int("-n", c.v, c.lo, c.hi); (err == nil) != c.want {
			t.Errorf("Int(%d, [%d, %d]) = %v, want accepted %v", c.v, c.lo, c.hi, err, c.want)
		}
	}
	if got, want := Int("--threads", 100000, 0, 64).Error(), "--threads 100000: must be in [0, 64]"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if got, want := Int("--steps", 0, 1, math.MaxInt).Error(), "--steps 0: must be ≥ 1"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if First(nil, Int("-n", 0, 1, 2), Int("-m", 0, 1, 2)).Error() != "-n 0: must be in [1, 2]" {
		t.Error("First does not return the first error")
	}
}
