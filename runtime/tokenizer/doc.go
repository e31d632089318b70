// Package tokenizer implements the two tokenizers of LLaMA-family GGUF
// models, token for token as llama.cpp runs them (llama-vocab.cpp):
// SentencePiece BPE (tokenizer.ggml.model = "llama": LLaMA-1/2, Mistral,
// TinyLlama; llm_tokenizer_spm) and byte-level BPE ("gpt2": GPT-2,
// Llama-3, Qwen2/3, SmolLM; llm_tokenizer_bpe). One Tokenizer type serves
// both; Model tells which.
//
// Build one with FromGGUF (or New from a Vocab; LoadVocab and FromHFDir read
// a Hugging Face tokenizer.json directory), then:
//
//	ids := tok.Encode("Once upon a time") // no BOS
//	in := tok.EncodeWith("Once upon a time", tokenizer.EncodeOptions{AddSpecial: true})
//	text := tok.Decode(ids)               // "Once upon a time"
//
// Model inputs use AddSpecial: BOS first where the vocabulary's AddBOS says
// so (tokenizer.ggml.add_bos_token; SentencePiece and Llama-3 yes, Qwen
// no), EOS last where AddEOS does, as llama.cpp's add_special.
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
// Byte-level BPE (bytebpe.go, pretokenize.go): user-defined tokens are split
// out as above (with EncodeOptions.ParseSpecial also control and unknown
// tokens, llama.cpp's parse_special), then the pre-tokenizer named by
// tokenizer.ggml.pre cuts each fragment into words — gpt-2, llama-bpe
// (llama3, llama-v3), qwen2 and smollm, hand-written after llama.cpp's
// unicode_regex_split_custom_* with Go's unicode categories — each word's
// bytes are written in GPT-2's byte alphabet and merged by rank with a heap,
// O(n log n) in the word length. Llama-3's ignore_merges emits a word that
// is a token whole. Decoding maps token texts back to bytes; nothing is
// stripped or cleaned (llama.cpp's clean_up_tokenization_spaces applies only
// to its detokenize call, not to the pieces generation prints), so
// Decode(Encode(s)) == s for all valid UTF-8.
//
// Hugging Face tokenizer.json (hfjson.go, hfwrite.go): ParseHF reads the
// vocabulary llama.cpp's convert_hf_to_gguf.py would write (token types of
// added tokens, merges, the pre-tokenizer recognised from its structure,
// special ids from tokenizer_config.json and config.json); HFFiles writes it
// back. Vocab.GGUFKeys is the one place the tokenizer.ggml.* keys are
// written.
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
//   - Byte-level BPE: invalid UTF-8 bytes become U+FFFD before merging, as
//     in llama.cpp, but overlong forms and surrogates (which llama.cpp
//     decodes) are invalid bytes too. Pre-tokenizers other than the four
//     above are refused by name.
//   - A tokenizer.json NFC normalizer (Qwen2/3) is applied to the text
//     between special tokens, as transformers does (nfc.go, with tables
//     generated from golang.org/x/text by tools/nfcgen). GGUF has no key
//     for it and llama.cpp does not normalize, so a vocabulary read from
//     GGUF does not either: text that is not in NFC tokenizes as llama.cpp
//     tokenizes it.
//
// Goroutines: a Tokenizer is immutable after New; any number of goroutines
// may encode and decode with one (TestConcurrentUse, under the race
// detector in make test-race). A Vocab is plain data: copy it (Clone)
// before changing one that a Tokenizer or another goroutine uses.
package tokenizer
