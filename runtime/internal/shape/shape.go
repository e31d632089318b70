// Package shape multiplies tensor dimensions read from files, with the
// overflow check every reader needs: a product that wraps around (heads ×
// head_dim = 2^61 × 4 → 0 in 64 bits) would otherwise pass a shape
// comparison and index out of range later.
package shape

import "fmt"

// MaxElements bounds any one tensor's element count: 2^40 values (4 TiB
// as float32) is far beyond a model a CPU runs, and keeps every byte
// count derived from an element count (×4, ×2, /32×34) inside int64.
const MaxElements = 1 << 40

// Product multiplies dims. It fails on a negative dimension or when the
// product exceeds MaxElements (checked before each multiplication, so it
// never wraps). An empty dims is a scalar: 1.
func Product[T int | int32 | int64 | uint32 | uint64](dims ...T) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is negative", d)
		}
		if uint64(d) > MaxElements || (d != 0 && n > MaxElements/int64(d)) {
			return 0, fmt.Errorf("too large: more than 2^40 elements")
		}
		n *= int64(d)
	}
	return n, nil
}
