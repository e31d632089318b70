package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentUse: a Tokenizer is documented as immutable after New and
// safe for concurrent use. Goroutines sharing one (SentencePiece and
// byte-level BPE) encode and decode the same texts as a serial run does;
// under -race (make test-race) this also shows that encoding writes
// nothing shared.
func TestConcurrentUse(t *testing.T) {
	text := string(readShared(t, "data/tinystories-dev.txt"))[:4000]
	lines := strings.Split(text, "\n")
	for _, rel := range []string{"models/stories260K.gguf", "models/tokenizers/llama3"} {
		tok := load(t, rel)
		serial := make([][]int, len(lines))
		for i, l := range lines {
			serial[i] = tok.EncodeWith(l, EncodeOptions{ParseSpecial: i%2 == 0})
		}
		var wg sync.WaitGroup
		errs := make(chan string, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range lines {
					i := (k + g*7) % len(lines) // each goroutine in its own order
					ids := tok.EncodeWith(lines[i], EncodeOptions{ParseSpecial: i%2 == 0})
					if !slices.Equal(ids, serial[i]) {
						errs <- rel + ": a concurrent Encode differs from the serial one on line " + lines[i]
						return
					}
					if got, want := tok.Decode(ids), tok.Decode(serial[i]); got != want {
						errs <- rel + ": a concurrent Decode differs"
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
