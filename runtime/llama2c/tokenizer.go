package llama2c

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

const spaceEscape = "\u2581"

// ReadTokenizer reads a llama2.c tokenizer.bin with n tokens (the model's
// vocab_size; n ≤ 0 reads tokens until the end of the file).
func ReadTokenizer(path string, n int) (tokenizer.Vocab, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return tokenizer.Vocab{}, err
	}
	v, err := ParseTokenizer(b, n)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ParseTokenizer decodes a tokenizer.bin held in b (see ReadTokenizer).
func ParseTokenizer(b []byte, n int) (tokenizer.Vocab, error) {
	var v tokenizer.Vocab
	if len(b) < 4 {
		return v, fmt.Errorf("llama2c: tokenizer file is %d bytes, too short for max_token_length", len(b))
	}
	maxLen := int32(binary.LittleEndian.Uint32(b))
	if maxLen < 0 {
		return v, fmt.Errorf("llama2c: tokenizer max_token_length %d is negative", maxLen)
	}
	off := 4
	for i := 0; n <= 0 && off < len(b) || i < n; i++ {
		if len(b)-off < 8 {
			return v, fmt.Errorf("llama2c: tokenizer is truncated at token %d (byte %d)", i, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		size := int32(binary.LittleEndian.Uint32(b[off+4:]))
		off += 8
		if size < 0 || int(size) > len(b)-off {
			return v, fmt.Errorf("llama2c: tokenizer token %d has length %d with %d bytes left", i, size, len(b)-off)
		}
		if math.IsNaN(float64(score)) {
			return v, fmt.Errorf("llama2c: tokenizer token %d has a NaN score", i)
		}
		text := string(b[off : off+int(size)])
		off += int(size)
		typ := int32(tokenizer.TypeNormal)
		switch {
		case i == 0:
			text, typ = "<unk>", tokenizer.TypeUnknown
		case i == 1:
			text, typ = "<s>", tokenizer.TypeControl
		case i == 2:
			text, typ = "</s>", tokenizer.TypeControl
		case text == "":
			typ = tokenizer.TypeControl
		case isByteToken(text):
			typ = tokenizer.TypeByte
		}
		v.Tokens = append(v.Tokens, strings.ReplaceAll(text, " ", spaceEscape))
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	if off != len(b) {
		return v, fmt.Errorf("llama2c: tokenizer has %d bytes after its %d tokens", len(b)-off, len(v.Tokens))
	}
	if len(v.Tokens) < 3 {
		return v, fmt.Errorf("llama2c: tokenizer has %d tokens, fewer than <unk>, <s>, </s>", len(v.Tokens))
	}
	v.UNK, v.BOS, v.EOS = 0, 1, 2
	v.AddSpacePrefix, v.AddBOS = true, true
	if _, err := tokenizer.New(v); err != nil {
		return v, fmt.Errorf("llama2c: %w", err)
	}
	return v, nil
}

func isByteToken(s string) bool {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return false
	}
	hex := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	return hex(s[3]) && hex(s[4])
}

// WriteTokenizer writes v as a llama2.c tokenizer.bin, atomically: U+2581
// becomes a space, BOS is "\n<s>\n" and EOS "\n</s>\n" (llama2.c's
// tokenizer.py export).
func WriteTokenizer(path string, v tokenizer.Vocab) error {
	if v.IsBPE() {
		return errors.New("llama2c: tokenizer.bin holds SentencePiece vocabularies; this one is byte-level BPE")
	}
	if len(v.Scores) != len(v.Tokens) {
		return fmt.Errorf("llama2c: %d tokens but %d scores", len(v.Tokens), len(v.Scores))
	}
	texts := make([]string, len(v.Tokens))
	maxLen := 0
	for i, t := range v.Tokens {
		switch i {
		case v.BOS:
			t = "\n<s>\n"
		case v.EOS:
			t = "\n</s>\n"
		default:
			t = strings.ReplaceAll(t, spaceEscape, " ")
		}
		texts[i] = t
		maxLen = max(maxLen, len(t))
	}
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		binary.Write(bw, binary.LittleEndian, int32(maxLen))
		for i, t := range texts {
			binary.Write(bw, binary.LittleEndian, v.Scores[i])
			binary.Write(bw, binary.LittleEndian, int32(len(t)))
			bw.WriteString(t)
		}
		return bw.Flush()
	})
}
