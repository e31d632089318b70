package shape

import (
	"math"
	"math/big"
	"testing"
)

// TestProduct compares with exact big-integer products.
func TestProduct(t *testing.T) {
	for _, dims := range [][]int64{
		{}, {0}, {1}, {7, 3}, {1 << 20, 1 << 20}, {1 << 20, 1 << 21}, {0, math.MaxInt64},
		{2305843009213693960, 32}, {-1, 4}, {1 << 40, 1}, {1 << 40, 2}, {3, 5, 7, 11, 13},
		{math.MaxInt64, math.MaxInt64},
	} {
		exact := big.NewInt(1)
		neg := false
		for _, d := range dims {
			exact.Mul(exact, big.NewInt(d))
			neg = neg || d < 0 || d > MaxElements
		}
		got, err := Product(dims...)
		ok := !neg && exact.Cmp(big.NewInt(MaxElements)) <= 0
		if ok != (err == nil) || (ok && got != exact.Int64()) {
			t.Errorf("Product(%v) = %d, %v; exact %s", dims, got, err, exact)
		}
	}
	if _, err := Product[uint64](math.MaxUint64, 1); err == nil {
		t.Error("Product(MaxUint64) passed")
	}
}
