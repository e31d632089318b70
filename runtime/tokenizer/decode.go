package tokenizer

import "strings"

// Piece returns the bytes token id stands for, as llama.cpp's
// llama_token_to_piece with special=false and no lstrip:
//
//   - normal tokens: the text with U+2581 replaced by ' ';
//   - byte tokens <0xNN>: the single byte NN (a piece may therefore be an
//     incomplete UTF-8 sequence; streaming output should hold bytes back
//     until a rune is complete);
//   - user-defined tokens: the text as is;
//   - control (BOS, EOS), unknown, unused and undefined tokens, and ids
//     outside the vocabulary: "".
//
// Piece does not strip the space that Encode adds at the start of the text;
// DecodePiece does.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// DecodePiece is Piece with the space-prefix rule of Decode: when first is
// true and the vocabulary adds a space prefix, one leading ' ' is removed.
// For streaming, pass first=true for the first token of the text (after any
// leading control tokens such as BOS; see Decode) and false afterwards.
// Concatenating the results equals Decode of the whole sequence.
func (t *Tokenizer) DecodePiece(id int, first bool) string {
	p := t.Piece(id)
	if first && t.v.AddSpacePrefix && strings.HasPrefix(p, " ") {
		return p[1:]
	}
	return p
}

// Decode turns ids back into text: the concatenated pieces (see Piece),
// byte tokens assembled into the bytes they stand for.
//
// Leading-space rule: ids are taken to start at the start of a text. When
// AddSpacePrefix is set, Encode added one space there, so Decode removes one
// leading ' ' from the first token that is not a control token (leading
// control tokens such as BOS decode to nothing and are skipped over). With
// this rule Decode(Encode(s)) == s for valid UTF-8 s that contains no U+2581
// and no user-defined token text (see the fuzz test), and Decode(ids) equals
// llama.cpp's llama_detokenize(remove_special=false, unparse_special=false)
// whenever ids does not start with a control token. (llama.cpp keeps the
// space after a leading BOS; Shear removes it, so that
// Decode([BOS]+Encode(s)) == s as well.) To decode a continuation that does
// not start the text, concatenate Piece results instead.
func (t *Tokenizer) Decode(ids []int) string {
	n := 0
	for _, id := range ids {
		n += len(t.Piece(id))
	}
	var b strings.Builder
	b.Grow(n)
	first := true
	for _, id := range ids {
		b.WriteString(t.DecodePiece(id, first))
		if first && !t.isControl(id) {
			first = false
		}
	}
	return b.String()
}

func (t *Tokenizer) isControl(id int) bool {
	return id >= 0 && id < len(t.v.Types) && t.v.Types[id] == TypeControl
}
