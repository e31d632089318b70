// Package tokenizer implements the SentencePiece BPE tokenizer of LLaMA-family
// GGUF models (tokenizer.ggml.model = "llama"), token for token as llama.cpp's
// SPM tokenizer (llm_tokenizer_spm in llama-vocab.cpp).
//
// Build one with FromGGUF (or New from a Vocab), then:
//
//	ids := tok.Encode("Once upon a time") // no BOS; prepend tok.BOS() yourself
//	text := tok.Decode(ids)               // "Once upon a time"
//
// Encoding escapes spaces to U+2581, adds one U+2581 at the start of the text
// (AddSpacePrefix), splits into UTF-8 characters and greedily merges the
// adjacent pair whose concatenation is the vocabulary token with the highest
// score, leftmost first, until no pair is a token. Characters left unmerged
// that are not tokens become byte tokens <0xNN>. The whole text is one
// sequence: newlines are ordinary characters (<0x0A> in LLaMA vocabularies),
// exactly as llama.cpp tokenizes a file for perplexity. Control strings such
// as "<s>" are not parsed (llama.cpp's parse_special=false); user-defined
// tokens are, as in llama.cpp.
//
// The merge loop is a priority queue over adjacent pairs with a linked list
// of symbols, as in llama.cpp, run separately on the segments between
// characters that are adjacent in no token (no merge can cross those, so the
// result is the same as for the whole text; a test and a fuzz target compare
// against a naive whole-text implementation).
//
// Decoding maps each id to its piece (Piece), strips the space the prefix
// added from the first piece, and concatenates; DecodePiece serves streaming.
//
// Differences from llama.cpp, all outside what LLaMA/TinyStories vocabularies
// exercise:
//   - llama.cpp forces control type on some tokens by their text (for example
//     "<|eot_id|>" or "</s>") and sets strip flags by model name (Phi-3);
//     Shear takes the GGUF token types as they are.
//   - Where a byte has neither a <0xNN> token nor a one-byte token, llama.cpp
//     throws; Shear emits UNK, and New refuses a vocabulary that has no UNK
//     either.
//   - New rejects out-of-range special ids, which llama.cpp replaces by a
//     default with a warning.
//   - Decode also removes the prefix space after a leading BOS (see Decode).
package tokenizer
