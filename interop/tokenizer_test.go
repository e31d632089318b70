//go:build interop

package interop

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

const (
	sharedDir     = "../../shared"
	llamaTokenize = sharedDir + "/tools/llama.cpp/bin/llama-tokenize"
)

// tokenizerCase is a tokenizer.json directory, the GGUF architecture its
// Shear GGUF is written with (one the native llama.cpp build knows), and a
// control token that separates texts.
var tokenizerCases = []struct {
	name, dir, arch, sep string
	pre                  string
}{
	{"llama3", sharedDir + "/models/tokenizers/llama3", "llama", "<|end_of_text|>", "llama-bpe"},
	{"qwen3", sharedDir + "/models/tokenizers/qwen3", "qwen2", "<|endoftext|>", "qwen2"},
}

// interopTexts are llama.cpp's llama-bpe test strings, strings not in
// NFC, and a few thousand lines of ../shared text (English prose,
// children's stories, JSON lines with digits and quotes).
func interopTexts(t *testing.T) []string {
	t.Helper()
	inp, err := os.ReadFile(sharedDir + "/models/vocab-tests/ggml-vocab-llama-bpe.gguf.inp")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(strings.TrimSuffix(string(inp), "\n__ggml_vocab_test__\n"), "\n__ggml_vocab_test__\n")
	// Not NFC: decomposed accents, a singleton, marks out of canonical
	// order, Hangul jamo. Qwen3's NFC normalizer changes them (Shear from
	// tokenizer.json applies it; llama.cpp does not); Llama-3 has none.
	texts = append(texts, "Cafe\u0301 au lait", "A\u030Angstro\u0308m", "\u212B and \u2126",
		"q\u0307\u0323 d\u0307\u0323", "\u1100\u1161\u11A8 \u1112\u1161\u11AB\uAE00", "<|im_start|>e\u0301<|im_end|>")
	for _, c := range []struct {
		file  string
		lines int
	}{
		{"data/public-domain/emma.txt", 1500},
		{"data/tinystories-dev.txt", 1000},
		{"data/cloze-dev.jsonl", 500},
	} {
		b, err := os.ReadFile(filepath.Join(sharedDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			texts = append(texts, line)
			if n++; n == c.lines {
				break
			}
		}
	}
	return texts
}

// jsTokenize runs hftokenize.mjs (@lenml/tokenizers) on texts: ids and
// whether each text is in NFC (Qwen3's normalizer, which llama.cpp and
// Shear do not apply).
func jsTokenize(t *testing.T, dir string, texts []string) (ids [][]int, nfc []bool) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "texts.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "hftokenize.mjs", dir, in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hftokenize.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		IDs [][]int `json:"ids"`
		NFC []bool  `json:"nfc"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("hftokenize.mjs output: %v", err)
	}
	if len(res.IDs) != len(texts) || len(res.NFC) != len(texts) {
		t.Fatalf("hftokenize.mjs returned %d results for %d texts", len(res.IDs), len(texts))
	}
	return res.IDs, res.NFC
}

func needNode(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping (install node and run `npm i -E @lenml/tokenizers@3.7.2` in interop/)")
	}
	if _, err := os.Stat("node_modules/@lenml/tokenizers/package.json"); err != nil {
		t.Fatal("@lenml/tokenizers is not installed: run `npm i -E @lenml/tokenizers@3.7.2` in interop/ (.ci/run does)")
	}
}

// TestTokenizerJSONMatchesJS: Shear's tokenizer read from each
// tokenizer.json gives the JavaScript port of Hugging Face tokenizers' ids
// on every text. Hugging Face always splits added tokens out of the text,
// so Shear runs with ParseSpecial. Texts not in NFC are included: Qwen3's
// NFC normalizer applies.
func TestTokenizerJSONMatchesJS(t *testing.T) {
	needNode(t)
	texts := interopTexts(t)
	for _, c := range tokenizerCases {
		t.Run(c.name, func(t *testing.T) {
			v, err := tokenizer.FromHFDir(c.dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.New(v)
			if err != nil {
				t.Fatal(err)
			}
			want, nfc := jsTokenize(t, c.dir, texts)
			notNFC, bad := 0, 0
			for i, s := range texts {
				if !nfc[i] {
					notNFC++
				}
				got := tok.EncodeWith(s, tokenizer.EncodeOptions{ParseSpecial: true})
				if !slices.Equal(got, want[i]) {
					if bad++; bad <= 10 {
						t.Errorf("%q:\nShear %v\n   JS %v", s, got, want[i])
					}
				}
			}
			t.Logf("%d texts (%d not in NFC), %d differ", len(texts), notNFC, bad)
			if notNFC < 6 {
				t.Errorf("only %d texts are not in NFC", notNFC)
			}
		})
	}
}

// writeVocabGGUF writes a vocabulary-only GGUF of v with architecture arch,
// the file Shear's GGUF writers produce for the tokenizer.
func writeVocabGGUF(t *testing.T, v tokenizer.Vocab, arch, path string) {
	t.Helper()
	b := gguf.NewBuilder()
	b.Set("general.architecture", arch)
	b.Set("general.name", "shear-vocab")
	for _, kv := range v.GGUFKeys() {
		b.SetKV(kv)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// runLlamaTokenize tokenizes the file at textPath with llama.cpp, without
// BOS or escape processing, parsing special tokens or not.
func runLlamaTokenize(t *testing.T, model, textPath string, parseSpecial bool) []int {
	t.Helper()
	args := []string{"-m", model, "-f", textPath, "--ids", "--no-bos", "--no-escape", "--log-disable"}
	if !parseSpecial {
		args = append(args, "--no-parse-special")
	}
	cmd := exec.Command(llamaTokenize, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llama-tokenize: %v\n%s", err, stderr.String())
	}
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:] // the ids are the last line
	}
	s = strings.Trim(s, "[]")
	var ids []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("llama-tokenize output %q: %v", out, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// sameAsLlamaCpp tokenizes joined (the contents of textPath) with Shear and
// with llama.cpp on model, reports where they first differ, and returns
// llama.cpp's ids and whether they are equal.
func sameAsLlamaCpp(t *testing.T, tok *tokenizer.Tokenizer, model, textPath, joined string, parse bool) ([]int, bool) {
	t.Helper()
	got := tok.EncodeWith(joined, tokenizer.EncodeOptions{ParseSpecial: parse})
	want := runLlamaTokenize(t, model, textPath, parse)
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("parse_special=%v: Shear and llama.cpp differ from token %d of %d/%d: Shear %v, llama.cpp %v",
			parse, i, len(got), len(want), got[i:min(i+8, len(got))], want[i:min(i+8, len(want))])
		return want, false
	}
	t.Logf("parse_special=%v: %d tokens equal", parse, len(got))
	return want, true
}

// TestLlamaCppTokenizesShearGGUF writes each tokenizer.json as GGUF with
// Shear and has llama.cpp (the native llama-tokenize) tokenize all texts,
// joined by a control token so one run covers them all (llama.cpp
// tokenizes the fragments between special tokens independently). Its ids
// must equal Shear's (as it reads the GGUF), with and without
// special-token parsing, and, split at the separator, the JavaScript
// tokenizer's for every NFC text (llama.cpp has no normalizer; the texts
// not in NFC are counted): so llama.cpp runs Shear's GGUF as transformers
// runs the tokenizer.json.
func TestLlamaCppTokenizesShearGGUF(t *testing.T) {
	if _, err := os.Stat(llamaTokenize); err != nil {
		t.Skipf("%s is absent", llamaTokenize)
	}
	needNode(t)
	texts := interopTexts(t)
	dir := t.TempDir()
	for _, c := range tokenizerCases {
		t.Run(c.name, func(t *testing.T) {
			v, err := tokenizer.FromHFDir(c.dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if v.Pre != c.pre {
				t.Fatalf("pre-tokenizer %q, want %q", v.Pre, c.pre)
			}
			// The GGUF has no normalizer: compare llama.cpp with Shear's
			// reading of that file, which does not apply Qwen3's NFC.
			v.NFC = false
			tok, err := tokenizer.New(v)
			if err != nil {
				t.Fatal(err)
			}
			model := filepath.Join(dir, c.name+".gguf")
			writeVocabGGUF(t, v, c.arch, model)
			sepIDs := tok.EncodeWith(c.sep, tokenizer.EncodeOptions{ParseSpecial: true})
			if len(sepIDs) != 1 {
				t.Fatalf("separator %q is not one token: %v", c.sep, sepIDs)
			}
			joined := strings.Join(texts, c.sep)
			textPath := filepath.Join(dir, c.name+".txt")
			if err := os.WriteFile(textPath, []byte(joined), 0o644); err != nil {
				t.Fatal(err)
			}

			for _, parse := range []bool{true, false} {
				want, ok := sameAsLlamaCpp(t, tok, model, textPath, joined, parse)
				if !ok || !parse {
					continue
				}
				// Split llama.cpp's ids at the separator and compare with
				// the JavaScript tokenizer text by text.
				js, nfc := jsTokenize(t, c.dir, texts)
				var parts [][]int
				start := 0
				for i, id := range want {
					if id == sepIDs[0] {
						parts = append(parts, want[start:i])
						start = i + 1
					}
				}
				parts = append(parts, want[start:])
				if len(parts) != len(texts) {
					t.Fatalf("llama.cpp's ids split into %d texts, want %d", len(parts), len(texts))
				}
				bad, skipped := 0, 0
				for i := range texts {
					if c.name == "qwen3" && !nfc[i] {
						skipped++
						continue
					}
					if !slices.Equal(parts[i], js[i]) {
						if bad++; bad <= 10 {
							t.Errorf("%q:\nllama.cpp %v\n       JS %v", texts[i], parts[i], js[i])
						}
					}
				}
				t.Logf("llama.cpp vs JS: %d texts, %d differ, %d skipped (not NFC)", len(texts), bad, skipped)
			}
		})
	}
}

// TestLlamaCppPreTokenizers: llama.cpp's GPT-2 vocabulary written by Shear
// under the gpt-2 and smollm pre-tokenizers (SmolLM2 uses GPT-2's merges
// layout with digits split) tokenizes all texts in llama.cpp as in Shear.
// No tokenizer.json of these families is in ../shared, so there is no
// JavaScript side here; the llama.cpp splitters are the reference.
func TestLlamaCppPreTokenizers(t *testing.T) {
	if _, err := os.Stat(llamaTokenize); err != nil {
		t.Skipf("%s is absent", llamaTokenize)
	}
	f, err := gguf.Open(sharedDir + "/models/vocab-tests/ggml-vocab-gpt-2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	base, err := tokenizer.VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	texts := interopTexts(t)
	dir := t.TempDir()
	for _, pre := range []string{"gpt-2", "smollm"} {
		t.Run(pre, func(t *testing.T) {
			v := base
			v.Pre = pre
			tok, err := tokenizer.New(v)
			if err != nil {
				t.Fatal(err)
			}
			model := filepath.Join(dir, pre+".gguf")
			writeVocabGGUF(t, v, "llama", model)
			joined := strings.Join(texts, "<|endoftext|>")
			textPath := filepath.Join(dir, pre+".txt")
			if err := os.WriteFile(textPath, []byte(joined), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, parse := range []bool{true, false} {
				sameAsLlamaCpp(t, tok, model, textPath, joined, parse)
			}
		})
	}
}
