package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
)

// GGUF token types (tokenizer.ggml.token_type).
const (
	TypeUndefined   = 0
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3
	TypeUserDefined = 4
	TypeUnused      = 5
	TypeByte        = 6
)

// Model names of tokenizer.ggml.model.
const (
	ModelSPM = "llama" // SentencePiece BPE (LLaMA-1/2, Mistral, TinyLlama)
	ModelBPE = "gpt2"  // byte-level BPE (GPT-2, Llama-3, Qwen2/3, SmolLM)
)

// Vocab is a vocabulary as stored in GGUF under tokenizer.ggml.*.
type Vocab struct {
	// Model is tokenizer.ggml.model: ModelSPM (also when empty) or ModelBPE.
	Model  string
	Tokens []string
	Scores []float32 // required for SentencePiece; optional (nil) for byte-level BPE
	Types  []int32   // GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte

	BOS, EOS, UNK int // -1 if absent

	AddSpacePrefix bool // tokenizer.ggml.add_space_prefix, default true for "llama"
	// AddBOS and AddEOS say whether the model's inputs start with BOS and
	// end with EOS (tokenizer.ggml.add_bos_token, add_eos_token; llama.cpp's
	// add_special): every place that encodes text for the model follows
	// them (EncodeOptions.AddSpecial). AddBOS defaults to true for
	// SentencePiece and the Llama-3 pre-tokenizer, AddEOS to false.
	AddBOS bool
	AddEOS bool

	// NFC applies Unicode NFC to text before pre-tokenizing, as a
	// tokenizer.json normalizer asks. GGUF has no key for it and llama.cpp
	// does not normalize, so a vocabulary read from GGUF never has it.
	NFC bool

	// Byte-level BPE only.
	Pre    string   // tokenizer.ggml.pre: the pre-tokenizer (see PreTokenizers)
	Merges []string // tokenizer.ggml.merges: "left right" in the byte alphabet, by rank
}

// IsBPE reports whether v is a byte-level BPE vocabulary.
func (v *Vocab) IsBPE() bool { return v.Model == ModelBPE }

// clone copies the slices of v.
func (v Vocab) clone() Vocab {
	v.Tokens = slices.Clone(v.Tokens)
	v.Scores = slices.Clone(v.Scores)
	v.Types = slices.Clone(v.Types)
	v.Merges = slices.Clone(v.Merges)
	return v
}

// Tokenizer encodes text to token ids and back. It is immutable after New
// and safe for concurrent use.
type Tokenizer struct {
	v Vocab

	ids    map[string]int32 // token text → id; empty texts are keyed "[EMPTY_<id>]" as in llama.cpp
	maxLen int              // longest token text in bytes, to skip hopeless lookups
	pieces []string         // token_to_piece(special=false) per id
	fall   [256]int32       // byte fallback: <0xNN>, else the 1-byte token, else UNK
	pairs  map[string]int32 // two characters adjacent inside some token → the pair's token id, or pairInside (see spm)

	fastChars [fastCodes]int32             // token of each ASCII character and of U+2581, or -1
	fastPairs [fastCodes * fastCodes]int32 // pairs restricted to those characters, pairCut where absent
	user      []userToken                  // user-defined tokens, longest text first: split out before SPM
	bytes     bool                         // all of <0x00>…<0xFF> are present

	// special are the control, unknown and user-defined tokens, longest
	// text first: what ParseSpecial splits out (user-defined ones always).
	special []userToken
	bpe     *bpeModel // byte-level BPE; nil for SentencePiece
}

type userToken struct {
	text string // as matched: "[EMPTY_<id>]" for an empty token, as in llama.cpp
	id   int32
}

// New validates v and builds a tokenizer. The vocabulary is copied.
func New(v Vocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	switch v.Model {
	case "", ModelSPM:
		if len(v.Merges) > 0 || v.Pre != "" {
			return nil, errors.New("tokenizer: merges and a pre-tokenizer belong to a byte-level BPE vocabulary (model \"gpt2\"), not SentencePiece")
		}
	case ModelBPE:
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q (supported: %q, %q)", v.Model, ModelSPM, ModelBPE)
	}
	if len(v.Scores) != n && !(v.IsBPE() && len(v.Scores) == 0) {
		return nil, fmt.Errorf("tokenizer: %d tokens but %d scores", n, len(v.Scores))
	}
	if len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d tokens but %d token types", n, len(v.Types))
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: %d tokens is too many", n)
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}} {
		if s.id < -1 || s.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range [0, %d) (use -1 for none)", s.name, s.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, errors.New("tokenizer: the vocabulary adds a BOS token to every input (add_bos_token) but has no BOS token")
	}
	if v.AddEOS && v.EOS < 0 {
		return nil, errors.New("tokenizer: the vocabulary adds an EOS token to every input (add_eos_token) but has no EOS token")
	}

	v = v.clone()
	if v.Model == "" {
		v.Model = ModelSPM // explicit, as FromGGUF reads it back
	}
	if len(v.Scores) == 0 {
		v.Scores = nil // byte-level BPE without scores: none are written
	}
	t := &Tokenizer{
		v:      v,
		ids:    make(map[string]int32, n),
		pieces: make([]string, n),
	}
	for i, text := range v.Tokens {
		typ := v.Types[i]
		if typ < TypeUndefined || typ > TypeByte {
			return nil, fmt.Errorf("tokenizer: token %d (%q) has unknown type %d", i, text, typ)
		}
		if text == "" {
			// llama.cpp keeps empty tokens under a placeholder text.
			text = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		if j, dup := t.ids[text]; dup {
			return nil, fmt.Errorf("tokenizer: duplicate token %q at ids %d and %d", text, j, i)
		}
		t.ids[text] = int32(i)
		t.maxLen = max(t.maxLen, len(text))

		switch {
		case v.IsBPE() && typ == TypeNormal:
			t.pieces[i] = unByteLevel(text)
		case v.IsBPE() && typ == TypeByte:
			// llama.cpp's BPE token_to_piece has no byte tokens: no text.
		case typ == TypeNormal:
			t.pieces[i] = strings.ReplaceAll(text, spaceEscape, " ")
		case typ == TypeUserDefined:
			t.pieces[i] = text
		case typ == TypeByte:
			b, ok := parseByteToken(text)
			if !ok {
				return nil, fmt.Errorf("tokenizer: token %d has type byte but text %q is not of the form <0xNN>", i, text)
			}
			t.pieces[i] = byteStrings[b]
		default: // unknown, control, unused, undefined: no text (llama.cpp token_to_piece, special=false)
		}
		switch typ {
		case TypeUserDefined:
			t.user = append(t.user, userToken{text, int32(i)})
			t.special = append(t.special, userToken{text, int32(i)})
		case TypeControl, TypeUnknown:
			t.special = append(t.special, userToken{text, int32(i)})
		}
	}
	sort.SliceStable(t.user, func(a, b int) bool { return len(t.user[a].text) > len(t.user[b].text) })
	sort.SliceStable(t.special, func(a, b int) bool { return len(t.special[a].text) > len(t.special[b].text) })
	if v.IsBPE() {
		var err error
		if t.bpe, err = newBPEModel(t, &v); err != nil {
			return nil, err
		}
		return t, nil
	}
	t.buildPairs()

	// Byte fallback as llama.cpp's byte_to_token: "<0xNN>" (upper-case hex),
	// else the token whose text is the byte itself. Where neither exists
	// llama.cpp throws; Shear emits UNK instead and refuses a vocabulary
	// that has neither.
	var missing []int
	t.bytes = true
	for b := range 256 {
		id, ok := t.ids[byteTokenText(byte(b))]
		if !ok {
			t.bytes = false
			id, ok = t.ids[byteStrings[b]]
		}
		switch {
		case ok:
			t.fall[b] = id
		case v.UNK >= 0:
			t.fall[b] = int32(v.UNK)
		default:
			t.fall[b] = -1
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("tokenizer: no byte token <0x%02X> (and %d more bytes) and no UNK token: text outside the vocabulary cannot be encoded", missing[0], len(missing)-1)
	}
	return t, nil
}

// HasByteTokens reports whether all 256 byte tokens <0x00>…<0xFF> are
// present, so that any text can be encoded without UNK.
func (t *Tokenizer) HasByteTokens() bool { return t.bytes }

// FromGGUF builds a tokenizer from the tokenizer.ggml.* keys of f: the
// SentencePiece model ("llama") or byte-level BPE ("gpt2", with merges and
// a pre-tokenizer Shear supports). Missing keys take llama.cpp's defaults:
// for "llama" BOS/EOS/UNK 1, 2, 0 (none if out of range), add_space_prefix
// and add_bos_token true; for "gpt2" BOS and EOS 11, no UNK, no space
// prefix, add_bos_token true only for the Llama-3 pre-tokenizer.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	v, err := VocabFromGGUF(f)
	if err != nil {
		return nil, err
	}
	return New(v)
}

// VocabFromGGUF reads the tokenizer.ggml.* keys of f (see FromGGUF) without
// building a tokenizer.
func VocabFromGGUF(f *gguf.File) (Vocab, error) {
	model, ok := f.String("tokenizer.ggml.model")
	if !ok {
		if _, present := f.Get("tokenizer.ggml.model"); present {
			return Vocab{}, errors.New("tokenizer: tokenizer.ggml.model is not a string")
		}
		return Vocab{}, errors.New("tokenizer: tokenizer.ggml.model is missing: the file has no tokenizer")
	}
	if model != ModelSPM && model != ModelBPE {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.model is %q; supported are SentencePiece %q and byte-level BPE %q", model, ModelSPM, ModelBPE)
	}
	bpe := model == ModelBPE

	v := Vocab{Model: model}
	if v.Tokens, ok = f.Strings("tokenizer.ggml.tokens"); !ok {
		return Vocab{}, keyError(f, "tokenizer.ggml.tokens", "an array of strings")
	}
	n := len(v.Tokens)
	if _, present := f.Get("tokenizer.ggml.scores"); !present && bpe {
		// optional for byte-level BPE
	} else if v.Scores, ok = f.Float32s("tokenizer.ggml.scores"); !ok {
		// llama.cpp also accepts integer scores.
		is, ok := f.Ints("tokenizer.ggml.scores")
		if !ok {
			return Vocab{}, keyError(f, "tokenizer.ggml.scores", "an array of float32")
		}
		v.Scores = make([]float32, len(is))
		for i, s := range is {
			v.Scores[i] = float32(s)
		}
	}
	types, ok := f.Ints("tokenizer.ggml.token_type")
	if !ok {
		return Vocab{}, keyError(f, "tokenizer.ggml.token_type", "an array of integers")
	}
	if len(v.Scores) != n && !(bpe && v.Scores == nil) {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.tokens has %d entries but tokenizer.ggml.scores has %d", n, len(v.Scores))
	}
	if len(types) != n {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.tokens has %d entries but tokenizer.ggml.token_type has %d", n, len(types))
	}
	v.Types = make([]int32, n)
	for i, x := range types {
		if x < TypeUndefined || x > TypeByte {
			return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.token_type[%d] = %d is not a GGUF token type", i, x)
		}
		v.Types[i] = int32(x)
	}

	defBOS, defEOS, defUNK, defPrefix, defAddBOS := 1, 2, 0, true, true
	if bpe {
		if v.Merges, ok = f.Strings("tokenizer.ggml.merges"); !ok {
			return Vocab{}, keyError(f, "tokenizer.ggml.merges", "an array of strings")
		}
		if _, present := f.Get("tokenizer.ggml.pre"); present {
			if v.Pre, ok = f.String("tokenizer.ggml.pre"); !ok {
				return Vocab{}, keyError(f, "tokenizer.ggml.pre", "a string")
			}
		}
		pre, err := lookupPre(v.Pre)
		if err != nil {
			return Vocab{}, err
		}
		defBOS, defEOS, defUNK, defPrefix, defAddBOS = 11, 11, n, false, pre.addBOS
	}

	var err error
	if v.BOS, err = specialID(f, "tokenizer.ggml.bos_token_id", defBOS, n); err != nil {
		return Vocab{}, err
	}
	if v.EOS, err = specialID(f, "tokenizer.ggml.eos_token_id", defEOS, n); err != nil {
		return Vocab{}, err
	}
	if v.UNK, err = specialID(f, "tokenizer.ggml.unknown_token_id", defUNK, n); err != nil {
		return Vocab{}, err
	}
	if v.AddSpacePrefix, err = boolKey(f, "tokenizer.ggml.add_space_prefix", defPrefix); err != nil {
		return Vocab{}, err
	}
	if v.AddBOS, err = boolKey(f, "tokenizer.ggml.add_bos_token", defAddBOS); err != nil {
		return Vocab{}, err
	}
	if v.AddEOS, err = boolKey(f, "tokenizer.ggml.add_eos_token", false); err != nil {
		return Vocab{}, err
	}
	// llama.cpp asserts a BOS where it adds one; say which keys disagree.
	if v.AddBOS && v.BOS < 0 {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.add_bos_token is true (or defaults to true for %q) but there is no BOS token: tokenizer.ggml.bos_token_id is missing and the default %d is outside the %d tokens", model, defBOS, n)
	}
	if v.AddEOS && v.EOS < 0 {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.ggml.add_eos_token is true but there is no EOS token: tokenizer.ggml.eos_token_id is missing and the default %d is outside the %d tokens", defEOS, n)
	}
	return v, nil
}

// GGUFKeys is the tokenizer.ggml.* metadata of v as llama.cpp's converter
// writes it: model, (pre,) tokens, (scores,) token types, (merges,) the
// special ids that are set, add_bos_token, add_eos_token when true (false
// is llama.cpp's default for both tokenizer models), and add_space_prefix
// for SentencePiece. Fixed order, so files are reproducible.
func (v *Vocab) GGUFKeys() []gguf.KV {
	model := v.Model
	if model == "" {
		model = ModelSPM
	}
	kv := []gguf.KV{{Key: "tokenizer.ggml.model", Type: gguf.TypeString, Value: model}}
	if v.IsBPE() {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.pre", Type: gguf.TypeString, Value: v.Pre})
	}
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, ArrayType: gguf.TypeString, Value: slices.Clone(v.Tokens)})
	if len(v.Scores) > 0 { // llama.cpp reads n scores if the key is there
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.scores", Type: gguf.TypeArray, ArrayType: gguf.TypeFloat32, Value: slices.Clone(v.Scores)})
	}
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, ArrayType: gguf.TypeInt32, Value: slices.Clone(v.Types)})
	if v.IsBPE() {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.merges", Type: gguf.TypeArray, ArrayType: gguf.TypeString, Value: slices.Clone(v.Merges)})
	}
	for _, s := range []struct {
		key string
		id  int
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}} {
		if s.id >= 0 {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml." + s.key + "_token_id", Type: gguf.TypeUint32, Value: uint32(s.id)})
		}
	}
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Type: gguf.TypeBool, Value: v.AddBOS})
	if v.AddEOS {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_eos_token", Type: gguf.TypeBool, Value: true})
	}
	if !v.IsBPE() {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Type: gguf.TypeBool, Value: v.AddSpacePrefix})
	}
	return kv
}

func keyError(f *gguf.File, key, want string) error {
	kv, ok := f.Get(key)
	if !ok {
		return fmt.Errorf("tokenizer: %s is missing", key)
	}
	if kv.Type == gguf.TypeArray {
		return fmt.Errorf("tokenizer: %s is an array of %s, want %s", key, kv.ArrayType, want)
	}
	return fmt.Errorf("tokenizer: %s is a %s, want %s", key, kv.Type, want)
}

// specialID reads an optional token id. An absent key gives def (or -1 if
// def is out of range, as llama.cpp does); a present one must be in range.
func specialID(f *gguf.File, key string, def, n int) (int, error) {
	if _, ok := f.Get(key); !ok {
		if def >= n {
			return -1, nil
		}
		return def, nil
	}
	id, ok := f.Int(key)
	if !ok {
		return 0, keyError(f, key, "an integer")
	}
	if id < 0 || id >= int64(n) {
		return 0, fmt.Errorf("tokenizer: %s = %d is out of range for %d tokens", key, id, n)
	}
	return int(id), nil
}

func boolKey(f *gguf.File, key string, def bool) (bool, error) {
	if _, ok := f.Get(key); !ok {
		return def, nil
	}
	b, ok := f.Bool(key)
	if !ok {
		return false, keyError(f, key, "a bool")
	}
	return b, nil
}

// Vocab returns a copy of the vocabulary.
func (t *Tokenizer) Vocab() Vocab { return t.v.clone() }

// Model returns the tokenizer model: ModelSPM or ModelBPE.
func (t *Tokenizer) Model() string { return t.v.Model }

// Pre returns the pre-tokenizer of a byte-level BPE vocabulary ("" for
// SentencePiece).
func (t *Tokenizer) Pre() string { return t.v.Pre }

// BOS returns the beginning-of-sequence token id, or -1.
func (t *Tokenizer) BOS() int { return t.v.BOS }

// EOS returns the end-of-sequence token id, or -1.
func (t *Tokenizer) EOS() int { return t.v.EOS }

// AddBOS reports whether the model's inputs start with BOS (then BOS ≥ 0).
func (t *Tokenizer) AddBOS() bool { return t.v.AddBOS }

// AddEOS reports whether the model's inputs end with EOS (then EOS ≥ 0).
func (t *Tokenizer) AddEOS() bool { return t.v.AddEOS }

// Size returns the number of tokens in the vocabulary.
func (t *Tokenizer) Size() int { return len(t.v.Tokens) }

const hexDigits = "0123456789ABCDEF"

// byteTokenText is the text of the byte token for b, e.g. "<0x0A>".
func byteTokenText(b byte) string {
	return string([]byte{'<', '0', 'x', hexDigits[b>>4], hexDigits[b&15], '>'})
}

// parseByteToken parses "<0xNN>" (either case of hex digit).
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

// byteStrings[b] is the one-byte string b.
var byteStrings = func() (s [256]string) {
	for b := range s {
		s[b] = string([]byte{byte(b)})
	}
	return
}()

// buildPairs fills t.pairs, t.fastChars and t.fastPairs: every two
// characters that are adjacent in a token text (split into characters as
// Encode splits its input), with the token id of the pair itself if it is
// a token.
func (t *Tokenizer) buildPairs() {
	t.pairs = make(map[string]int32, len(t.ids))
	for text := range t.ids {
		prev := 0
		off := min(utf8Len(text[0]), len(text))
		for off < len(text) {
			n := min(utf8Len(text[off]), len(text)-off)
			pair := text[prev : off+n]
			if _, seen := t.pairs[pair]; !seen {
				id, ok := t.ids[pair]
				if !ok {
					id = pairInside
				}
				t.pairs[pair] = id
			}
			prev = off
			off += n
		}
	}
	fastText := func(code int) string {
		if code == 128 {
			return spaceEscape
		}
		return byteStrings[code]
	}
	for a := range fastCodes {
		t.fastChars[a] = -1
		if id, ok := t.ids[fastText(a)]; ok {
			t.fastChars[a] = id
		}
		for b := range fastCodes {
			id, ok := t.pairs[fastText(a)+fastText(b)]
			if !ok {
				id = pairCut
			}
			t.fastPairs[a*fastCodes+b] = id
		}
	}
}
