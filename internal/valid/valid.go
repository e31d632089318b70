// Package valid is the one place numeric options are range-checked. Every
// request field and CLI flag goes through Float or Int, so a bad number is
// refused the same way whichever door it came in by, with an error that
// names the option and the allowed range.
//
// Options are named as the CLI spells them ("--target"); a JSON request
// field is the same name without the dashes, with "_" for "-".
package valid

import (
	"fmt"
	"math"
)

// Error is a value outside its option's allowed range.
type Error struct {
	Name  string // the option, e.g. "--target"
	Value string // the value as given
	Want  string // the allowed range, e.g. "in (0, 1)"
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: must be %s", e.Name, e.Value, e.Want) }

// Range is an interval of allowed values; Open* excludes an end.
type Range struct {
	Lo, Hi         float64
	OpenLo, OpenHi bool
}

// Common ranges.
var (
	Fraction     = Range{Lo: 0, Hi: 1, OpenLo: true, OpenHi: true}           // (0, 1)
	UnitInterval = Range{Lo: 0, Hi: 1}                                       // [0, 1]
	HalfOpenUnit = Range{Lo: 0, Hi: 1, OpenHi: true}                         // [0, 1)
	NonNegative  = Range{Lo: 0, Hi: math.Inf(1), OpenHi: true}               // [0, ∞)
	Positive     = Range{Lo: 0, Hi: math.Inf(1), OpenLo: true, OpenHi: true} // (0, ∞)
)

func (r Range) String() string {
	lo, hi := "[", "]"
	if r.OpenLo {
		lo = "("
	}
	if r.OpenHi {
		hi = ")"
	}
	return fmt.Sprintf("a finite number in %s%s, %s%s", lo, num(r.Lo), num(r.Hi), hi)
}

func num(v float64) string {
	if math.IsInf(v, 1) {
		return "∞"
	}
	return fmt.Sprint(v)
}

// Contains reports whether v is finite and inside r.
func (r Range) Contains(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if v < r.Lo || v > r.Hi || (r.OpenLo && v == r.Lo) || (r.OpenHi && v == r.Hi) {
		return false
	}
	return true
}

// Float checks that v is finite and in r.
func Float(name string, v float64, r Range) error {
	if r.Contains(v) {
		return nil
	}
	return &Error{Name: name, Value: fmt.Sprint(v), Want: r.String()}
}

// Int checks lo ≤ v ≤ hi.
func Int(name string, v, lo, hi int) error {
	if v >= lo && v <= hi {
		return nil
	}
	want := fmt.Sprintf("in [%d, %d]", lo, hi)
	if hi == math.MaxInt {
		want = fmt.Sprintf("≥ %d", lo)
	}
	return &Error{Name: name, Value: fmt.Sprint(v), Want: want}
}

// First returns the first non-nil error, so a Validate method can list
// its checks in order.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
