// Package node runs Shear's pure WebAssembly module from a second,
// non-Go host: greedy.mjs drives the ABI of docs/WASM.md with Node.js's
// built-in WASI (no npm packages), and the test compares its greedy tokens
// with llama.cpp's reference. The test skips only when node is absent.
package node
