// Package testshared finds the project's read-only test data: the
// ../shared directory beside the repository (CI lays it there too).
package testshared

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns ../shared/rel, searching upwards from the test's working
// directory, and skips the test when the shared data is absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			t.Skipf("../shared/%s not found above %s", rel, dir)
		}
	}
}
