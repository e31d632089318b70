// Package llama2c reads and writes the checkpoints of karpathy's llama2.c:
// the legacy (version 0) model.bin and the tokenizer.bin beside it.
//
// model.bin is seven little-endian int32 — dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len — followed by float32 weights in
// the order of run.c's memory_map_weights:
//
//	token_embedding [vocab][dim]
//	rms_att [layers][dim], wq [layers][dim][dim], wk, wv [layers][kv_dim][dim],
//	wo [layers][dim][dim], rms_ffn [layers][dim],
//	w1 [layers][hidden][dim], w2 [layers][dim][hidden], w3 [layers][hidden][dim],
//	rms_final [dim], freq_cis_real, freq_cis_imag [seq_len · head_size/2 each],
//	wcls [vocab][dim] only when vocab_size is negative (untied classifier)
//
// Matrices are row-major out × in, as in Shear; w1 is the gate, w3 the up
// projection and w2 the down projection. The freq_cis tables are skipped on
// reading (run.c computes RoPE itself) and written with their values on
// writing, for older runners that still read them.
//
// RoPE: run.c rotates adjacent pairs (q[i], q[i+1]) of each head with
// frequency 10000^(-(i mod head_size)/head_size), which is GGUF's (and
// Shear's) "normal" RoPE, so no row permutation is needed, unlike the
// Hugging Face layout. The tests check it: GGUF → .bin → GGUF gives the same
// bytes and the same logits.
//
// The format has no room for anything else: head_size is dim/n_heads, the
// RMSNorm epsilon is 1e-5 and the RoPE base 10000 (run.c hard-codes both),
// every layer has the same widths, and weights are float32. Save refuses a
// model that differs in any of these with an error naming the mismatch,
// rather than writing a file that would run differently. Load reads version
// 0 only; the versioned exports (magic "ak42") are refused with a clear
// error.
//
// tokenizer.bin is max_token_length (int32), then for each token a float32
// score, an int32 byte length and the bytes. It has no token types and no
// count (the model's vocab_size gives it). As llama.cpp's
// convert-llama2c-to-ggml does, ReadTokenizer assigns ids 0, 1, 2 to <unk>
// (unknown), <s> and </s> (control), "<0xNN>" texts to byte tokens, empty
// texts to control and the rest to normal, and escapes spaces to U+2581.
// WriteTokenizer does the reverse, with llama2.c's "\n<s>\n" and "\n</s>\n"
// texts for BOS and EOS. User-defined and unused token types do not survive
// the format.
//
// Reading checks the header's ranges and that the file size is exactly what
// the header implies before anything is allocated, and rejects NaN or
// infinite weights.
package llama2c
