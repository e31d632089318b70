package host_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
	"github.com/shear-ai/shear/wasm/host"
)

func readShared(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(testshared.Path(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cacheDir keeps compiled modules across test runs (wazero keys the cache
// by module and wazero version).
func cacheDir() string { return filepath.Join(os.TempDir(), "shear-wazero-cache") }

var modes = []host.Mode{host.Native, host.HostKernels, host.Pure}

// engines are shared by the tests of one process: compiling a module
// takes seconds, instantiating it milliseconds.
var (
	enginesMu sync.Mutex
	engines   = map[host.Mode]*host.Engine{}
)

func engine(tb testing.TB, mode host.Mode) *host.Engine {
	tb.Helper()
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e, ok := engines[mode]; ok {
		return e
	}
	e, err := host.New(context.Background(), host.Options{Mode: mode, CacheDir: cacheDir()})
	if err != nil {
		tb.Fatal(err)
	}
	engines[mode] = e
	return e
}

func greedyReference(tb testing.TB) []int {
	var ref struct {
		Generated []int `json:"generated_tokens"`
	}
	if err := json.Unmarshal(readShared(tb, "reference/stories260K-greedy.json"), &ref); err != nil {
		tb.Fatal(err)
	}
	return ref.Generated
}

// random15M is a random-weight model of the 15M benchmark shape (f16),
// with the LLaMA vocabulary so that it loads like any model.
func random15M(tb testing.TB) []byte {
	m, err := model.NewRandom(model.Shapes["15M"], tensor.F16, 1)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := gguf.Parse(readShared(tb, "models/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		tb.Fatal(err)
	}
	if m.Tok, err = tokenizer.FromGGUF(f); err != nil {
		tb.Fatal(err)
	}
	b, err := m.GGUF()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytesWriter
	if _, err := b.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf
}

type bytesWriter []byte

func (w *bytesWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}
