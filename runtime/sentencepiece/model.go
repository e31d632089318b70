package sentencepiece

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// Piece types (SentencePiece.Type); the same numbers as GGUF token types.
const (
	Normal      = 1
	Unknown     = 2
	Control     = 3
	UserDefined = 4
	Unused      = 5
	Byte        = 6
)

// Model types (TrainerSpec.model_type).
const (
	Unigram = 1
	BPE     = 2
	Word    = 3
	Char    = 4
)

// Piece is one vocabulary entry.
type Piece struct {
	Piece string
	Score float32
	Type  int32
}

// TrainerSpec holds the trainer options Shear uses; the rest are in Other.
type TrainerSpec struct {
	ModelType    int32 // Unigram, BPE, Word or Char
	VocabSize    int32
	ByteFallback bool
	UnkID        int32 // -1: none
	BOSID        int32
	EOSID        int32
	PadID        int32
	Other        []Field
	has          fieldSet // known fields present in the parsed file
}

// NormalizerSpec holds the normaliser options Shear uses; the rest (such as
// precompiled_charsmap) are in Other.
type NormalizerSpec struct {
	Name                   string
	AddDummyPrefix         bool
	RemoveExtraWhitespaces bool
	EscapeWhitespaces      bool
	Other                  []Field
	has                    fieldSet
}

// fieldSet records which known fields a parsed message had, so that
// writing it back emits exactly those (plus any that differ from their
// defaults), as proto2 does.
type fieldSet uint64

func (s *fieldSet) add(num int32)     { *s |= 1 << (num & 63) }
func (s fieldSet) has(num int32) bool { return s&(1<<(num&63)) != 0 }
func all(nums ...int32) (s fieldSet) {
	for _, n := range nums {
		s.add(n)
	}
	return s
}

// Model is a parsed ModelProto.
type Model struct {
	Pieces     []Piece
	Trainer    TrainerSpec
	Normalizer NormalizerSpec
	Other      []Field // self_test_data, denormalizer_spec, unknown fields
}

// Field numbers.
const (
	fPieces, fTrainer, fNormalizer            = 1, 2, 3
	fPiece, fScore, fType                     = 1, 2, 3
	fModelType, fVocabSize, fByteFallback     = 3, 4, 35
	fUnkID, fBOSID, fEOSID, fPadID            = 40, 41, 42, 43
	fName, fAddDummy, fRemoveExtra, fEscapeWS = 1, 3, 4, 5
)

// Read reads and parses a tokenizer.model file.
func Read(path string) (*Model, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a serialized ModelProto. Field defaults are those of
// sentencepiece_model.proto.
func Parse(b []byte) (*Model, error) {
	m := &Model{
		Trainer:    TrainerSpec{ModelType: Unigram, VocabSize: 8000, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1},
		Normalizer: NormalizerSpec{AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true},
	}
	d := &decoder{b: b, msg: "ModelProto"}
	hasTrainer := false
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.Num {
		case fPieces:
			if err := d.want(f, wireLen, "pieces"); err != nil {
				return nil, err
			}
			p, err := parsePiece(d.sub(f, fmt.Sprintf("piece %d", len(m.Pieces))))
			if err != nil {
				return nil, err
			}
			m.Pieces = append(m.Pieces, p)
		case fTrainer:
			if err := d.want(f, wireLen, "trainer_spec"); err != nil {
				return nil, err
			}
			if err := parseTrainer(d.sub(f, "trainer_spec"), &m.Trainer); err != nil {
				return nil, err
			}
			hasTrainer = true
		case fNormalizer:
			if err := d.want(f, wireLen, "normalizer_spec"); err != nil {
				return nil, err
			}
			if err := parseNormalizer(d.sub(f, "normalizer_spec"), &m.Normalizer); err != nil {
				return nil, err
			}
		default:
			m.Other = append(m.Other, f)
		}
	}
	if len(m.Pieces) == 0 {
		return nil, errors.New("sentencepiece: the model has no pieces (not a SentencePiece tokenizer.model?)")
	}
	// SentencePiece writes the pieces first and trainer_spec after them,
	// so a file cut exactly between two pieces parses cleanly but lacks
	// it; the missing pieces would otherwise become padding tokens.
	if !hasTrainer {
		return nil, fmt.Errorf("sentencepiece: the file ends after %d pieces without a trainer_spec: truncated?", len(m.Pieces))
	}
	return m, nil
}

func parsePiece(d *decoder) (Piece, error) {
	p := Piece{Type: Normal}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return p, err
		}
		switch f.Num {
		case fPiece:
			if err := d.want(f, wireLen, "piece"); err != nil {
				return p, err
			}
			p.Piece = string(f.Data)
		case fScore:
			if p.Score, err = d.floatField(f, "score"); err != nil {
				return p, err
			}
		case fType:
			if p.Type, err = d.int32Field(f, "type"); err != nil {
				return p, err
			}
			if p.Type < Normal || p.Type > Byte {
				return p, d.errorf("type %d is not a SentencePiece type (1..6)", p.Type)
			}
		}
		// Other piece fields (extensions) are not used by any tokenizer.model.
	}
	return p, nil
}

func parseTrainer(d *decoder, t *TrainerSpec) error {
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return err
		}
		switch f.Num {
		case fModelType, fVocabSize, fByteFallback, fUnkID, fBOSID, fEOSID, fPadID:
			t.has.add(f.Num)
		}
		switch f.Num {
		case fModelType:
			t.ModelType, err = d.int32Field(f, "model_type")
		case fVocabSize:
			t.VocabSize, err = d.int32Field(f, "vocab_size")
		case fByteFallback:
			t.ByteFallback, err = d.boolField(f, "byte_fallback")
		case fUnkID:
			t.UnkID, err = d.int32Field(f, "unk_id")
		case fBOSID:
			t.BOSID, err = d.int32Field(f, "bos_id")
		case fEOSID:
			t.EOSID, err = d.int32Field(f, "eos_id")
		case fPadID:
			t.PadID, err = d.int32Field(f, "pad_id")
		default:
			t.Other = append(t.Other, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseNormalizer(d *decoder, n *NormalizerSpec) error {
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return err
		}
		switch f.Num {
		case fName, fAddDummy, fRemoveExtra, fEscapeWS:
			n.has.add(f.Num)
		}
		switch f.Num {
		case fName:
			if err = d.want(f, wireLen, "name"); err == nil {
				n.Name = string(f.Data)
			}
		case fAddDummy:
			n.AddDummyPrefix, err = d.boolField(f, "add_dummy_prefix")
		case fRemoveExtra:
			n.RemoveExtraWhitespaces, err = d.boolField(f, "remove_extra_whitespaces")
		case fEscapeWS:
			n.EscapeWhitespaces, err = d.boolField(f, "escape_whitespaces")
		default:
			n.Other = append(n.Other, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// numbered is an encoded field waiting to be written in field-number order.
type numbered struct {
	num int32
	b   []byte
}

func sortedConcat(fs []numbered) []byte {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].num < fs[j].num })
	var out []byte
	for _, f := range fs {
		out = append(out, f.b...)
	}
	return out
}

func enc(fn func(e *encoder)) []byte {
	var e encoder
	fn(&e)
	return e.b
}

func others(fs []Field) []numbered {
	out := make([]numbered, len(fs))
	for i, f := range fs {
		out[i] = numbered{f.Num, enc(func(e *encoder) { e.raw(f) })}
	}
	return out
}

// Encode serializes the model as a ModelProto.
func (m *Model) Encode() []byte {
	t, n := &m.Trainer, &m.Normalizer
	var tf, nf []numbered
	put := func(list *[]numbered, has fieldSet, num int32, isDefault bool, fn func(e *encoder)) {
		if has.has(num) || !isDefault {
			*list = append(*list, numbered{num, enc(fn)})
		}
	}
	put(&tf, t.has, fModelType, t.ModelType == Unigram, func(e *encoder) { e.int32(fModelType, t.ModelType) })
	put(&tf, t.has, fVocabSize, t.VocabSize == 8000, func(e *encoder) { e.int32(fVocabSize, t.VocabSize) })
	put(&tf, t.has, fByteFallback, !t.ByteFallback, func(e *encoder) { e.bool(fByteFallback, t.ByteFallback) })
	put(&tf, t.has, fUnkID, t.UnkID == 0, func(e *encoder) { e.int32(fUnkID, t.UnkID) })
	put(&tf, t.has, fBOSID, t.BOSID == 1, func(e *encoder) { e.int32(fBOSID, t.BOSID) })
	put(&tf, t.has, fEOSID, t.EOSID == 2, func(e *encoder) { e.int32(fEOSID, t.EOSID) })
	put(&tf, t.has, fPadID, t.PadID == -1, func(e *encoder) { e.int32(fPadID, t.PadID) })
	put(&nf, n.has, fName, n.Name == "", func(e *encoder) { e.bytes(fName, []byte(n.Name)) })
	put(&nf, n.has, fAddDummy, n.AddDummyPrefix, func(e *encoder) { e.bool(fAddDummy, n.AddDummyPrefix) })
	put(&nf, n.has, fRemoveExtra, n.RemoveExtraWhitespaces, func(e *encoder) { e.bool(fRemoveExtra, n.RemoveExtraWhitespaces) })
	put(&nf, n.has, fEscapeWS, n.EscapeWhitespaces, func(e *encoder) { e.bool(fEscapeWS, n.EscapeWhitespaces) })
	trainer := sortedConcat(append(tf, others(t.Other)...))
	normalizer := sortedConcat(append(nf, others(n.Other)...))
	var e encoder
	for _, p := range m.Pieces {
		var pe encoder
		pe.bytes(fPiece, []byte(p.Piece))
		pe.float(fScore, p.Score)
		if p.Type != Normal { // the default, omitted as SentencePiece does
			pe.int32(fType, p.Type)
		}
		e.bytes(fPieces, pe.b)
	}
	top := []numbered{
		{fTrainer, enc(func(e *encoder) { e.bytes(fTrainer, trainer) })},
		{fNormalizer, enc(func(e *encoder) { e.bytes(fNormalizer, normalizer) })},
	}
	return append(e.b, sortedConcat(append(top, others(m.Other)...))...)
}

// Write writes the model to path atomically.
func (m *Model) Write(path string) error {
	b := m.Encode()
	return gguf.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// ToVocab converts the model to a GGUF vocabulary: pieces, scores and types
// unchanged; UNK, BOS and EOS from the trainer spec (an id outside the
// vocabulary means none); add_dummy_prefix becomes AddSpacePrefix; AddBOS
// is set when there is a BOS token.
func (m *Model) ToVocab() (tokenizer.Vocab, error) {
	n := len(m.Pieces)
	v := tokenizer.Vocab{
		Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]int32, n),
		AddSpacePrefix: m.Normalizer.AddDummyPrefix,
	}
	for i, p := range m.Pieces {
		if p.Type < Normal || p.Type > Byte {
			return v, fmt.Errorf("sentencepiece: piece %d (%q) has type %d, not a SentencePiece type", i, p.Piece, p.Type)
		}
		v.Tokens[i], v.Scores[i], v.Types[i] = p.Piece, p.Score, p.Type
	}
	id := func(x int32) int {
		if x < 0 || int(x) >= n {
			return -1
		}
		return int(x)
	}
	v.UNK, v.BOS, v.EOS = id(m.Trainer.UnkID), id(m.Trainer.BOSID), id(m.Trainer.EOSID)
	v.AddBOS = v.BOS >= 0
	if _, err := tokenizer.New(v); err != nil {
		return v, fmt.Errorf("sentencepiece: %w", err)
	}
	return v, nil
}

// FromVocab builds a SentencePiece BPE model from a GGUF vocabulary (the
// model type llama.cpp's "llama" tokenizer corresponds to). The normaliser
// is "identity" with the vocabulary's space prefix, as in LLaMA's
// tokenizer.model; byte_fallback is set when all 256 byte tokens exist.
func FromVocab(v tokenizer.Vocab) (*Model, error) {
	if v.IsBPE() {
		return nil, errors.New("sentencepiece: a byte-level BPE vocabulary has no tokenizer.model form (it is written as tokenizer.json)")
	}
	t, err := tokenizer.New(v)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece: %w", err)
	}
	m := &Model{
		Pieces: make([]Piece, len(v.Tokens)),
		Trainer: TrainerSpec{ModelType: BPE, VocabSize: int32(len(v.Tokens)), ByteFallback: t.HasByteTokens(),
			UnkID: int32(v.UNK), BOSID: int32(v.BOS), EOSID: int32(v.EOS), PadID: -1,
			has: all(fModelType, fVocabSize, fByteFallback, fUnkID, fBOSID, fEOSID, fPadID)},
		Normalizer: NormalizerSpec{Name: "identity", AddDummyPrefix: v.AddSpacePrefix, EscapeWhitespaces: true,
			has: all(fName, fAddDummy, fRemoveExtra, fEscapeWS)},
	}
	for i := range v.Tokens {
		typ := v.Types[i]
		if typ == tokenizer.TypeUndefined {
			typ = Normal
		}
		m.Pieces[i] = Piece{Piece: v.Tokens[i], Score: v.Scores[i], Type: typ}
	}
	return m, nil
}
