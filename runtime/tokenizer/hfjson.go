package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shear-ai/shear/runtime/gguf"
)

// Hugging Face file names read by FromHFDir.
const (
	HFTokenizerFile       = "tokenizer.json"
	HFTokenizerConfigFile = "tokenizer_config.json"
	HFConfigFile          = "config.json"
)

// The split regexes of the tokenizer.json pre-tokenizers Shear recognises,
// as Llama-3 and Qwen2/3 ship them, and the tokenizer.ggml.pre name
// llama.cpp's converter gives each.
const (
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// FromHFDir reads a Hugging Face tokenizer directory: tokenizer.json (a
// byte-level BPE model), and if present tokenizer_config.json (BOS, EOS,
// add_bos_token) and config.json (bos_token_id, eos_token_id where the
// tokenizer config names none). The vocabulary is what llama.cpp's
// convert_hf_to_gguf.py writes for it (see ParseHF); vocabSize > 0 pads it
// to that many tokens (config.json's vocab_size; 0 keeps the tokenizer's
// own size).
func FromHFDir(dir string, vocabSize int) (Vocab, error) {
	read := func(name string, required bool) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !required && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	tj, err := read(HFTokenizerFile, true)
	if err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: %w", err)
	}
	tc, err := read(HFTokenizerConfigFile, false)
	if err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := read(HFConfigFile, false)
	if err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: %w", err)
	}
	v, err := ParseHF(tj, tc, cfg, vocabSize)
	if err != nil {
		return Vocab{}, fmt.Errorf("%s: %w", dir, err)
	}
	return v, nil
}

// hfTokenizer is the part of tokenizer.json that ParseHF reads.
type hfTokenizer struct {
	AddedTokens []struct {
		ID         *int   `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		ByteFallback            bool            `json:"byte_fallback"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		Dropout                 *float64        `json:"dropout"`
	} `json:"model"`
}

// hfPre is one pre-tokenizer object of tokenizer.json.
type hfPre struct {
	Type          string          `json:"type"`
	Pretokenizers []hfPre         `json:"pretokenizers"` // Sequence
	Pattern       json.RawMessage `json:"pattern"`       // Split: {"Regex": …} or {"String": …}
	Behavior      string          `json:"behavior"`      // Split
	Invert        bool            `json:"invert"`        // Split
	AddPrefix     bool            `json:"add_prefix_space"`
	UseRegex      *bool           `json:"use_regex"`         // ByteLevel, default true
	Individual    bool            `json:"individual_digits"` // Digits
}

// ParseHF converts a Hugging Face tokenizer.json (with tokenizer_config.json
// and config.json, either may be nil) to a GGUF vocabulary, as llama.cpp's
// convert_hf_to_gguf.py does for byte-level BPE models:
//
//   - tokens by id; ids the files do not define (up to vocabSize) become
//     "[PAD<id>]" of type unused;
//   - added tokens that are special, or look special ("<|…|>" and the
//     converter's other patterns), are control tokens; the other added
//     tokens are user-defined; all others normal;
//   - merges as "left right" (the newer list-of-pairs form is joined, a
//     space inside a side written as U+0120 as the converter does);
//   - tokenizer.ggml.pre from the pre-tokenizer: ByteLevel with its regex is
//     "gpt-2", Digits then ByteLevel "smollm", and a Split with Llama-3's or
//     Qwen2's regex then ByteLevel "llama-bpe" or "qwen2" (the converter
//     finds these by hashing the tokenization of a test string; matching the
//     structure gives the same names for these families);
//   - BOS/EOS/UNK from the tokenizer config's bos_token/eos_token/unk_token
//     (looked up among the added tokens), else config.json's *_token_id;
//   - add_bos_token and add_eos_token as gguf-py's SpecialVocab finds them:
//     a TemplateProcessing post-processor that puts the BOS first (the EOS
//     last) sets them, the tokenizer config's add_bos_token/add_eos_token
//     override it, and what neither says is llama.cpp's default for the
//     pre-tokenizer (BOS for Llama-3 only, never EOS).
//
// A normalizer other than none or NFC, a model other than BPE, byte
// fallback (SentencePiece-style tokenizer.json: use tokenizer.model), word
// prefixes or suffixes, dropout, missing merges and an unknown pre-tokenizer
// are errors that name the problem. The NFC normalizer sets Vocab.NFC, so
// Shear encodes as transformers does; it is not in GGUF (llama.cpp has no
// normalizer), so text that is not in NFC tokenizes differently from a
// GGUF.
func ParseHF(tokenizerJSON, tokenizerConfig, config []byte, vocabSize int) (Vocab, error) {
	var tj hfTokenizer
	if err := json.Unmarshal(tokenizerJSON, &tj); err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: %s: %w", HFTokenizerFile, err)
	}
	m := &tj.Model
	switch {
	case m.Type != "BPE" && m.Type != "":
		return Vocab{}, fmt.Errorf("tokenizer: %s: model type %q is not supported (only byte-level BPE)", HFTokenizerFile, m.Type)
	case m.Type == "" && m.Vocab == nil:
		return Vocab{}, fmt.Errorf("tokenizer: %s has no model", HFTokenizerFile)
	case m.ByteFallback:
		return Vocab{}, fmt.Errorf("tokenizer: %s: BPE with byte_fallback is a SentencePiece-style tokenizer; not supported from tokenizer.json (use tokenizer.model)", HFTokenizerFile)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return Vocab{}, fmt.Errorf("tokenizer: %s: continuing_subword_prefix %q is not supported", HFTokenizerFile, *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return Vocab{}, fmt.Errorf("tokenizer: %s: end_of_word_suffix %q is not supported", HFTokenizerFile, *m.EndOfWordSuffix)
	case m.Dropout != nil && *m.Dropout != 0:
		return Vocab{}, fmt.Errorf("tokenizer: %s: BPE dropout %v is not supported", HFTokenizerFile, *m.Dropout)
	}
	nfc, err := checkNormalizer(tj.Normalizer)
	if err != nil {
		return Vocab{}, err
	}
	pre, err := hfPreName(tj.PreTokenizer)
	if err != nil {
		return Vocab{}, err
	}
	merges, err := hfMerges(m.Merges)
	if err != nil {
		return Vocab{}, err
	}

	// Tokens by id: the model's vocabulary, then the added tokens.
	n := vocabSize
	const maxTokens = 1 << 24
	const maxGap = 1 << 16 // undefined ids allowed without a vocabulary size
	for text, id := range m.Vocab {
		if id < 0 || id >= maxTokens {
			return Vocab{}, fmt.Errorf("tokenizer: %s: token %q has id %d outside [0, %d)", HFTokenizerFile, text, id, maxTokens)
		}
		n = max(n, id+1)
	}
	for _, a := range tj.AddedTokens {
		if a.ID == nil || *a.ID < 0 || *a.ID >= maxTokens {
			return Vocab{}, fmt.Errorf("tokenizer: %s: added token %q has no id in [0, %d)", HFTokenizerFile, a.Content, maxTokens)
		}
		n = max(n, *a.ID+1)
	}
	if defined := len(m.Vocab) + len(tj.AddedTokens); vocabSize == 0 && n > defined+maxGap {
		// Gaps become [PAD] tokens; a file that defines a few ids far
		// apart is not a vocabulary, and would cost memory out of all
		// proportion to its size.
		return Vocab{}, fmt.Errorf("tokenizer: %s defines %d tokens but ids up to %d", HFTokenizerFile, defined, n-1)
	}
	if vocabSize > 0 && n > vocabSize {
		return Vocab{}, fmt.Errorf("tokenizer: %s defines token id %d, beyond the vocabulary size %d", HFTokenizerFile, n-1, vocabSize)
	}
	if n == 0 {
		return Vocab{}, fmt.Errorf("tokenizer: %s: empty vocabulary", HFTokenizerFile)
	}
	v := Vocab{Model: ModelBPE, Pre: pre, Merges: merges, Tokens: make([]string, n), Types: make([]int32, n), BOS: -1, EOS: -1, UNK: -1, NFC: nfc}
	set := make([]bool, n)
	for text, id := range m.Vocab {
		if set[id] {
			return Vocab{}, fmt.Errorf("tokenizer: %s: tokens %q and %q share id %d", HFTokenizerFile, v.Tokens[id], text, id)
		}
		v.Tokens[id], v.Types[id], set[id] = text, TypeNormal, true
	}
	added := map[string]int{}
	for _, a := range tj.AddedTokens {
		id := *a.ID
		text := a.Content
		if a.Special || looksSpecial(text) {
			v.Types[id] = TypeControl
		} else {
			// The converter pre-normalises user-defined spaces (for Gemma).
			text = strings.ReplaceAll(text, spaceEscape, " ")
			v.Types[id] = TypeUserDefined
		}
		v.Tokens[id], set[id] = text, true
		added[a.Content] = id
	}
	for id := range v.Tokens {
		if !set[id] {
			v.Tokens[id], v.Types[id] = fmt.Sprintf("[PAD%d]", id), TypeUnused
		}
	}

	p, err := lookupPre(pre)
	if err != nil {
		return Vocab{}, err
	}
	v.AddBOS = p.addBOS
	if err := hfSpecials(&v, tj.PostProcessor, tokenizerConfig, config, added); err != nil {
		return Vocab{}, err
	}
	if v.AddBOS && v.BOS < 0 {
		return Vocab{}, fmt.Errorf("tokenizer: %s: every input starts with a BOS token (add_bos_token, or the default of pre-tokenizer %q) but no BOS token is named (bos_token in %s or bos_token_id in %s)", HFTokenizerFile, pre, HFTokenizerConfigFile, HFConfigFile)
	}
	if v.AddEOS && v.EOS < 0 {
		return Vocab{}, fmt.Errorf("tokenizer: %s: every input ends with an EOS token (add_eos_token) but no EOS token is named (eos_token in %s or eos_token_id in %s)", HFTokenizerFile, HFTokenizerConfigFile, HFConfigFile)
	}
	if _, err := New(v); err != nil {
		return Vocab{}, err
	}
	return v, nil
}

// looksSpecial is the converter's does_token_look_special: added tokens
// some models do not mark special but that are control tokens.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>") ||
		strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>") ||
		strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">")
}

// checkNormalizer accepts no normalizer or NFC (alone or in a Sequence)
// and says whether NFC applies.
func checkNormalizer(raw json.RawMessage) (nfc bool, err error) {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return false, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return false, fmt.Errorf("tokenizer: %s: normalizer: %w", HFTokenizerFile, err)
	}
	switch n.Type {
	case "NFC":
		return true, nil
	case "Sequence":
		for _, s := range n.Normalizers {
			one, err := checkNormalizer(s)
			if err != nil {
				return false, err
			}
			nfc = nfc || one
		}
		return nfc, nil
	}
	return false, fmt.Errorf("tokenizer: %s: normalizer %q is not supported (only none or NFC)", HFTokenizerFile, n.Type)
}

// hfPreName names the pre-tokenizer of tokenizer.json as tokenizer.ggml.pre.
func hfPreName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return "", fmt.Errorf("tokenizer: %s has no pre_tokenizer: not a byte-level BPE tokenizer", HFTokenizerFile)
	}
	var p hfPre
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("tokenizer: %s: pre_tokenizer: %w", HFTokenizerFile, err)
	}
	steps := []hfPre{p}
	if p.Type == "Sequence" {
		steps = p.Pretokenizers
	}
	byteLevel := func(q hfPre, regex bool) bool {
		return q.Type == "ByteLevel" && !q.AddPrefix && (q.UseRegex == nil || *q.UseRegex) == regex
	}
	switch {
	case len(steps) == 1 && byteLevel(steps[0], true):
		return "gpt-2", nil
	case len(steps) == 2 && steps[0].Type == "Digits" && steps[0].Individual && byteLevel(steps[1], true):
		return "smollm", nil
	case len(steps) == 2 && steps[0].Type == "Split" && byteLevel(steps[1], false) &&
		steps[0].Behavior == "Isolated" && !steps[0].Invert:
		var pat struct{ Regex string }
		if err := json.Unmarshal(steps[0].Pattern, &pat); err == nil {
			switch pat.Regex {
			case llama3Regex:
				return "llama-bpe", nil
			case qwen2Regex:
				return "qwen2", nil
			}
		}
	}
	desc := make([]string, len(steps))
	for i, q := range steps {
		desc[i] = q.Type
		if q.Type == "Split" {
			var pat bytes.Buffer
			if json.Compact(&pat, q.Pattern) == nil {
				desc[i] += " " + pat.String()
			}
		}
		if q.Type == "ByteLevel" && q.AddPrefix {
			desc[i] += " with add_prefix_space"
		}
	}
	return "", fmt.Errorf("tokenizer: %s: pre-tokenizer [%s] is not one Shear knows (it knows those of GPT-2, Llama-3, Qwen2/3 and SmolLM: %s)",
		HFTokenizerFile, strings.Join(desc, ", "), strings.Join(PreTokenizers(), ", "))
}

// hfMerges reads model.merges in either form: ["a b", …] or [["a", "b"], …].
func hfMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, fmt.Errorf("tokenizer: %s: the BPE model has no merges", HFTokenizerFile)
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		if len(strs) == 0 {
			return nil, fmt.Errorf("tokenizer: %s: the BPE model has no merges", HFTokenizerFile)
		}
		return strs, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: merges are neither strings nor pairs of strings", HFTokenizerFile)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: the BPE model has no merges", HFTokenizerFile)
	}
	strs = make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("tokenizer: %s: merge %d has %d parts, want 2", HFTokenizerFile, i, len(p))
		}
		strs[i] = strings.ReplaceAll(p[0], " ", byteText[' ']) + " " + strings.ReplaceAll(p[1], " ", byteText[' '])
	}
	return strs, nil
}

// hfSpecials sets BOS, EOS, UNK, AddBOS and AddEOS from the
// post-processor of tokenizer.json, tokenizer_config.json and config.json,
// as gguf-py's SpecialVocab: a token named in the tokenizer config is
// looked up among the added tokens; config.json's ids fill in what is
// still unset.
func hfSpecials(v *Vocab, postProcessor json.RawMessage, tokenizerConfig, config []byte, added map[string]int) error {
	targets := []struct {
		name string
		id   *int
	}{{"bos", &v.BOS}, {"eos", &v.EOS}, {"unk", &v.UNK}}
	var tc map[string]json.RawMessage
	if len(tokenizerConfig) > 0 {
		if err := json.Unmarshal(tokenizerConfig, &tc); err != nil {
			return fmt.Errorf("tokenizer: %s: %w", HFTokenizerConfigFile, err)
		}
	}
	names := map[string]string{} // the texts of the tokens the config names
	for _, t := range targets {
		raw, ok := tc[t.name+"_token"]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(raw, &obj) != nil {
				continue // null or something else: not set
			}
			s = obj.Content
		}
		names[t.name] = s
	}
	first, last := templateEnds(postProcessor)
	if first != "" {
		// Without a tokenizer config the template's first token is the BOS.
		v.AddBOS = tc == nil || first == names["bos"]
	}
	if last != "" {
		// The template's last token is the EOS; gguf-py renames the
		// config's EOS to it (keeping the old one as EOT, which Shear does
		// not store).
		v.AddEOS = true
		if tc != nil {
			names["eos"] = last
		}
	}
	if tc != nil {
		for _, t := range targets {
			if id, ok := added[names[t.name]]; ok && names[t.name] != "" {
				*t.id = id
			}
		}
	}
	applyAddFlags(v, tc)
	if len(config) > 0 {
		var c map[string]json.RawMessage
		if err := json.Unmarshal(config, &c); err != nil {
			return fmt.Errorf("tokenizer: %s: %w", HFConfigFile, err)
		}
		for _, t := range targets {
			raw, ok := c[t.name+"_token_id"]
			if !ok || *t.id >= 0 {
				continue
			}
			var id float64 // a list of EOS ids (Llama-3.1) is not an id: skipped, as the converter does
			if json.Unmarshal(raw, &id) != nil || id != math.Trunc(id) {
				continue
			}
			if id < 0 || id >= float64(len(v.Tokens)) {
				return fmt.Errorf("tokenizer: %s: %s_token_id %v is outside the vocabulary of %d", HFConfigFile, t.name, id, len(v.Tokens))
			}
			*t.id = int(id)
		}
	}
	return nil
}

// applyAddFlags sets AddBOS and AddEOS from a tokenizer config's boolean
// add_bos_token and add_eos_token (other values are ignored, as by gguf-py).
func applyAddFlags(v *Vocab, tc map[string]json.RawMessage) {
	for _, f := range []struct {
		key  string
		flag *bool
	}{{"add_bos_token", &v.AddBOS}, {"add_eos_token", &v.AddEOS}} {
		var b bool
		if raw, ok := tc[f.key]; ok && json.Unmarshal(raw, &b) == nil {
			*f.flag = b
		}
	}
}

// HFAddFlags applies tokenizer_config.json's add_bos_token and
// add_eos_token to v, as llama.cpp's converter does for SentencePiece
// models too (tokenizer.model beside the config), and checks that the
// tokens added exist.
func HFAddFlags(v *Vocab, tokenizerConfig []byte) error {
	var tc map[string]json.RawMessage
	if err := json.Unmarshal(tokenizerConfig, &tc); err != nil {
		return fmt.Errorf("tokenizer: %s: %w", HFTokenizerConfigFile, err)
	}
	applyAddFlags(v, tc)
	if v.AddBOS && v.BOS < 0 {
		return fmt.Errorf("tokenizer: %s: add_bos_token is true but the vocabulary has no BOS token", HFTokenizerConfigFile)
	}
	if v.AddEOS && v.EOS < 0 {
		return fmt.Errorf("tokenizer: %s: add_eos_token is true but the vocabulary has no EOS token", HFTokenizerConfigFile)
	}
	return nil
}

// templateEnds returns the special tokens a TemplateProcessing
// post-processor (alone or in a Sequence) puts before and after a single
// sequence ("" where there is none), as gguf-py reads them: only a
// template with more than one piece counts.
func templateEnds(raw json.RawMessage) (first, last string) {
	type piece struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	}
	var p struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []piece           `json:"single"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil {
		return "", ""
	}
	if p.Type == "Sequence" {
		for _, q := range p.Processors {
			if f, l := templateEnds(q); f != "" || l != "" {
				first, last = f, l
			}
		}
		return first, last
	}
	if p.Type != "TemplateProcessing" || len(p.Single) < 2 {
		return "", ""
	}
	if s := p.Single[0].SpecialToken; s != nil {
		first = s.ID
	}
	if s := p.Single[len(p.Single)-1].SpecialToken; s != nil {
		last = s.ID
	}
	return first, last
}

// LoadVocab reads a vocabulary from path: a GGUF file (its tokenizer.ggml.*
// keys), a Hugging Face tokenizer directory (see FromHFDir) or a
// tokenizer.json file in one. It is what --vocab-from accepts.
func LoadVocab(path string) (Vocab, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: %w", err)
	}
	switch {
	case fi.IsDir():
		return FromHFDir(path, 0)
	case filepath.Base(path) == HFTokenizerFile:
		return FromHFDir(filepath.Dir(path), 0)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return Vocab{}, fmt.Errorf("%s: not a GGUF file or a %s directory: %w", path, HFTokenizerFile, err)
	}
	v, err := VocabFromGGUF(f)
	if err != nil {
		return Vocab{}, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
