package host

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"
)

// The guest modules, built by `make wasm` from wasm/guest and stored
// gzip-compressed (a quarter of the size in the binary and in git).
var (
	//go:embed shear.wasm.gz
	pureGz []byte
	//go:embed shear-host.wasm.gz
	hostGz []byte
)

var (
	moduleOnce [2]sync.Once
	moduleBin  [2][]byte
	moduleErr  [2]error
)

// Module returns the WebAssembly binary a mode runs: shear.wasm for Pure,
// shear-host.wasm for HostKernels (Native has none). Other hosts can run
// the pure module with WASI preview 1 and the shear_host.poll import
// (docs/WASM.md).
func Module(mode Mode) ([]byte, error) {
	var i int
	var gz []byte
	switch mode {
	case Pure:
		i, gz = 0, pureGz
	case HostKernels:
		i, gz = 1, hostGz
	default:
		return nil, fmt.Errorf("wasm/host: mode %v runs no module", mode)
	}
	moduleOnce[i].Do(func() {
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err == nil {
			moduleBin[i], err = io.ReadAll(r)
		}
		if err != nil {
			moduleErr[i] = fmt.Errorf("wasm/host: the embedded module for %v is unreadable: %v", mode, err)
		}
	})
	return moduleBin[i], moduleErr[i]
}
