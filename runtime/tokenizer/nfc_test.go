package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func isNFC(s string) bool { return NFC(s) == s }

// TestNFC: the examples of UAX #15 and of its normalization test data,
// written out by hand (the generator's test compares every code point
// with golang.org/x/text).
func TestNFC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain ASCII, and Latin-1 é ñ ü", "plain ASCII, and Latin-1 é ñ ü"},
		{"cafe\u0301", "caf\u00e9"},
		{"A\u030A", "\u00c5"},
		{"\u212b", "\u00c5"},                         // Angstrom sign: a singleton
		{"\u1e0b\u0323", "\u1e0d\u0307"},             // d-dot-above + dot below: reordered, recomposed
		{"q\u0307\u0323", "q\u0323\u0307"},           // reordered, nothing composes
		{"A\u0301\u0301", "\u00c1\u0301"},            // the second acute composes with nothing
		{"a\u0328\u0301", "\u0105\u0301"},            // ogonek (202) before acute (230)
		{"a\u0301\u0328", "\u0105\u0301"},            // reordered first
		{"u\u0308\u0304", "\u01d6"},                  // two steps: ü, then ǖ
		{"\u0344", "\u0308\u0301"},                   // a non-starter decomposition: excluded
		{"\u0958", "\u0915\u093c"},                   // a composition exclusion
		{"\U0001d15e", "\U0001d157\U0001d165"},       // excluded, outside the BMP
		{"\U00011099\U000110ba", "\U0001109a"},       // composes outside the BMP
		{"\u1100\u1161\u11a8", "\uac01"},             // Hangul L V T
		{"\uac00\u11a8", "\uac01"},                   // LV + T
		{"\u1100\u0301\u1161", "\u1100\u0301\u1161"}, // a mark between L and V blocks
		{"\xffe\u0301\xfe", "\xff\u00e9\xfe"},        // invalid bytes kept, the rest normalized
		{"\u0301e", "\u0301e"},                       // a leading mark stays
	} {
		if got := NFC(c.in); got != c.want {
			t.Errorf("NFC(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

// TestQwen3NFC: Qwen3's tokenizer.json has an NFC normalizer, so decomposed
// text encodes as its composed form (as transformers does); read from GGUF,
// which has no normalizer, it does not (as llama.cpp does not). Special
// tokens are split out before normalizing.
func TestQwen3NFC(t *testing.T) {
	tok := load(t, "models/tokenizers/qwen3")
	if !tok.Vocab().NFC {
		t.Fatal("Qwen3's NFC normalizer was not read")
	}
	raw := tok.Vocab()
	raw.NFC = false
	plain, err := New(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ decomposed, composed string }{
		{"cafe\u0301 na\u0131\u0308ve", "caf\u00e9 na\u0131\u0308ve"},
		{"Pok\u0065\u0301mon \u212b", "Pok\u00e9mon \u00c5"},
		{"\u1100\u1161\u11a8 \u1112\u1161\u11ab", "\uac01 \ud55c"},
	} {
		want := tok.Encode(c.composed)
		if got := tok.Encode(c.decomposed); !slices.Equal(got, want) {
			t.Errorf("%+q: %v, want %v (its NFC form)", c.decomposed, got, want)
		}
		if got := plain.Encode(c.decomposed); slices.Equal(got, want) {
			t.Errorf("%+q: the same tokens without the normalizer: the test proves nothing", c.decomposed)
		}
	}
	// "<|im_start|>" stays a token; the text after it is normalized.
	got := tok.EncodeWith("<|im_start|>e\u0301", EncodeOptions{ParseSpecial: true})
	want := append([]int{int(tok.ids["<|im_start|>"])}, tok.Encode("\u00e9")...)
	if !slices.Equal(got, want) {
		t.Errorf("after a special token: %v, want %v", got, want)
	}
}

// TestAddSpecial: EncodeOptions.AddSpecial adds BOS and EOS as the
// vocabulary says (llama.cpp's add_special): Llama-3 starts with
// <|begin_of_text|>, Qwen3 adds nothing, a vocabulary with add_eos_token
// ends with EOS, also for an empty text.
func TestAddSpecial(t *testing.T) {
	llama := load(t, "models/tokenizers/llama3")
	qwen := load(t, "models/tokenizers/qwen3")
	const text = "Hello world"
	add := EncodeOptions{AddSpecial: true}
	if got, want := llama.EncodeWith(text, add), append([]int{128000}, llama.Encode(text)...); !slices.Equal(got, want) {
		t.Errorf("llama3: %v, want %v", got, want)
	}
	if got, want := qwen.EncodeWith(text, add), qwen.Encode(text); !slices.Equal(got, want) || qwen.AddBOS() || qwen.AddEOS() {
		t.Errorf("qwen3: %v, want %v (add_bos %v add_eos %v)", got, want, qwen.AddBOS(), qwen.AddEOS())
	}
	v := qwen.Vocab()
	v.AddEOS = true
	withEOS, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := withEOS.EncodeWith(text, add), append(qwen.Encode(text), 151645); !slices.Equal(got, want) {
		t.Errorf("add_eos: %v, want %v", got, want)
	}
	if got := withEOS.EncodeWith("", add); !slices.Equal(got, []int{151645}) {
		t.Errorf("add_eos, empty text: %v", got)
	}
	if got := llama.EncodeWith("", add); !slices.Equal(got, []int{128000}) {
		t.Errorf("add_bos, empty text: %v", got)
	}
	// add_eos_token goes through GGUF (written only when true, llama.cpp's
	// default being false) and back.
	back, err := VocabFromGGUF(vocabGGUF(t, v, nil))
	if err != nil || !back.AddEOS {
		t.Errorf("add_eos_token through GGUF: %v, %v", back.AddEOS, err)
	}
	qv := qwen.Vocab()
	for _, kv := range qv.GGUFKeys() {
		if kv.Key == "tokenizer.ggml.add_eos_token" {
			t.Error("add_eos_token written although false")
		}
	}
}

// TestHFAddFlags: add_bos_token/add_eos_token as gguf-py's SpecialVocab
// finds them: a TemplateProcessing that puts the BOS first sets add_bos
// even without a tokenizer config; the tokenizer config overrides the
// template; a template that appends the EOS sets add_eos; without either,
// llama.cpp's default for the pre-tokenizer (true for Llama-3).
func TestHFAddFlags(t *testing.T) {
	dir := sharedPath(t, "models/tokenizers/llama3")
	plain, err := os.ReadFile(filepath.Join(dir, HFTokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	withPost := func(post string) []byte {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		m["post_processor"] = json.RawMessage(post)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const bos, eos = `{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}`, `{"SpecialToken": {"id": "<|end_of_text|>", "type_id": 0}}`
	const a = `{"Sequence": {"id": "A", "type_id": 0}}`
	template := func(single ...string) []byte {
		return withPost(`{"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing", "single": [` + strings.Join(single, ",") + `]}]}`)
	}
	noBOS := withPost(`{"type": "ByteLevel"}`)
	const names = `{"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"`
	for _, c := range []struct {
		name           string
		tj             []byte
		tc, config     string
		addBOS, addEOS bool
		errPart        string
	}{
		{name: "no template: llama-bpe's default", tj: noBOS, tc: names + "}", addBOS: true},
		{name: "no template, config says no", tj: noBOS, tc: names + `, "add_bos_token": false}`},
		{name: "template, no tokenizer config", tj: template(bos, a), config: `{"bos_token_id": 128000}`, addBOS: true},
		{name: "template of another token", tj: template(eos, a), tc: names + "}", addBOS: false},
		{name: "template, config says no", tj: template(bos, a), tc: names + `, "add_bos_token": false}`},
		{name: "config adds eos", tj: noBOS, tc: names + `, "add_eos_token": true}`, addBOS: true, addEOS: true},
		{name: "template appends eos", tj: template(bos, a, eos), tc: names + "}", addBOS: true, addEOS: true},
		{name: "eos asked, none named", tj: noBOS, tc: `{"bos_token": "<|begin_of_text|>", "add_eos_token": true}`, errPart: "add_eos_token"},
		{name: "bos asked, none named", tj: noBOS, tc: `{"add_bos_token": true}`, errPart: "no BOS token is named"},
	} {
		v, err := ParseHF(c.tj, []byte(c.tc), []byte(c.config), 0)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.errPart)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if v.AddBOS != c.addBOS || v.AddEOS != c.addEOS || (c.addBOS && v.BOS != 128000) || (c.addEOS && v.EOS != 128001) {
			t.Errorf("%s: add_bos %v add_eos %v bos %d eos %d, want %v %v", c.name, v.AddBOS, v.AddEOS, v.BOS, v.EOS, c.addBOS, c.addEOS)
		}
	}
}

// TestHFAddFlagsSPM: the tokenizer config's flags alone (as for a
// tokenizer.model), refused where the token they add is missing.
func TestHFAddFlagsSPM(t *testing.T) {
	v := Vocab{BOS: 1, EOS: -1, AddBOS: true}
	if err := HFAddFlags(&v, []byte(`{"add_bos_token": false, "add_eos_token": null}`)); err != nil || v.AddBOS || v.AddEOS {
		t.Errorf("add_bos %v add_eos %v err %v, want false false nil", v.AddBOS, v.AddEOS, err)
	}
	if err := HFAddFlags(&v, []byte(`{"add_eos_token": true}`)); err == nil || !strings.Contains(err.Error(), "add_eos_token is true but the vocabulary has no EOS") {
		t.Errorf("add_eos_token without EOS: err = %v", err)
	}
}

// TestHFFilesDefaultBOS: Qwen3's vocabulary read back from GGUF has
// llama.cpp's default BOS, id 11 (","), which it never adds: the
// tokenizer.json export names no BOS instead of refusing a normal token
// (config.json keeps the id), and reads back with it from there.
func TestHFFilesDefaultBOS(t *testing.T) {
	q := load(t, "models/tokenizers/qwen3").Vocab()
	v, err := VocabFromGGUF(vocabGGUF(t, q, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v.BOS != 11 || v.AddBOS {
		t.Fatalf("BOS %d add_bos %v through GGUF, want llama.cpp's default 11, false", v.BOS, v.AddBOS)
	}
	tj, tc, err := HFFiles(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseHF(tj, tc, []byte(`{"bos_token_id": 11}`), 0)
	if err != nil || back.BOS != 11 || back.AddBOS {
		t.Errorf("read back: BOS %d add_bos %v, err %v", back.BOS, back.AddBOS, err)
	}
	v.AddBOS = true // a BOS that is added must be nameable
	if _, _, err := HFFiles(v); err == nil || !strings.Contains(err.Error(), "normal token") {
		t.Errorf("added normal BOS: err = %v", err)
	}
}
