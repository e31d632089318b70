// Package sentencepiece reads and writes SentencePiece model files
// (tokenizer.model, the protobuf ModelProto) with a small hand-written
// protobuf wire decoder and encoder, and converts them to and from the
// GGUF vocabulary of package tokenizer.
//
// The parts of ModelProto Shear interprets:
//
//	ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//	SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
//	TrainerSpec     3 model_type, 4 vocab_size, 35 byte_fallback,
//	                40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
//	NormalizerSpec  1 name, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
//	                5 escape_whitespaces
//
// Every other field (the precompiled normalisation map, self-test data, the
// many trainer options) is kept verbatim in Other and written back. Known
// fields are written when the parsed file had them or when they differ from
// their defaults, and all fields go out in field-number order, so reading and
// writing LLaMA's tokenizer.model reproduces it byte for byte.
//
// SentencePiece piece types (NORMAL=1, UNKNOWN=2, CONTROL=3, USER_DEFINED=4,
// UNUSED=5, BYTE=6) are the GGUF token types with the same numbers, so
// ToVocab and FromVocab copy them unchanged, as llama.cpp's converter does.
//
// The decoder trusts no length: a truncated varint, a length past the end of
// its message, a known field with the wrong wire type, a group or an invalid
// wire type each give an error naming the field and byte offset.
package sentencepiece
