// Package interop checks Shear's GGUF output against a real client:
// llama.cpp, as shipped (prebuilt, CPU) in the npm package
// node-llama-cpp@3.21.1. The test writes GGUF files with Shear — stories260K
// in f32, f16, q8_0 and q4_0, and a pruned copy whose layers have different
// widths (arch "deci"), and models that went through the Hugging Face and
// llama2.c formats before being written as GGUF — runs llama.cpp on each through greedy.mjs (greedy,
// 64 tokens from BOS, token level: no chat template, no sampling, no repeat
// penalty, one thread) and requires llama.cpp's tokens to equal Shear's
// greedy tokens (sample.Argmax over State.Forward).
//
// tokenizer_test.go checks Shear's tokenizer.json reader (Llama-3 and Qwen3
// from ../shared) against Hugging Face's tokenizers as ported to JavaScript
// (npm @lenml/tokenizers@3.7.2, hftokenize.mjs) on llama.cpp's test strings
// and ~3000 lines of ../shared text, and that the native llama.cpp
// (../shared/tools/llama.cpp/bin/llama-tokenize) tokenizes the GGUF Shear
// writes from each tokenizer.json exactly as Shear and the JavaScript
// tokenizer do.
//
// Run it with `make interop` (go test -tags interop ./interop/) after
// installing the client beside this file:
//
//	(cd interop && npm i -E node-llama-cpp@3.21.1 @lenml/tokenizers@3.7.2)
//
// The test skips, saying so, only when node is not installed.
package interop
