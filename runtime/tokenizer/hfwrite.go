package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// HFFiles writes a byte-level BPE vocabulary as Hugging Face files:
// tokenizer.json (BPE model with the normal tokens and the merges, the
// pre-tokenizer of v.Pre, control and user-defined tokens as added tokens,
// byte-level decoder) and tokenizer_config.json (bos/eos/unk token texts,
// add_bos_token). ParseHF reads them back as v, with unused "[PAD<id>]"
// tokens restored when given len(v.Tokens) as the vocabulary size; the
// tokenizer.json has no normalizer (an NFC normalizer of the source is not
// kept, as it is not in GGUF).
func HFFiles(v Vocab) (tokenizerJSON, tokenizerConfig []byte, err error) {
	if !v.IsBPE() {
		return nil, nil, errors.New("tokenizer: HFFiles writes byte-level BPE vocabularies; SentencePiece ones go to tokenizer.model")
	}
	if len(v.Types) != len(v.Tokens) {
		return nil, nil, fmt.Errorf("tokenizer: %d tokens but %d token types", len(v.Tokens), len(v.Types))
	}
	p, err := lookupPre(v.Pre)
	if err != nil {
		return nil, nil, err
	}
	pre, err := hfPreJSON(v.Pre)
	if err != nil {
		return nil, nil, err
	}
	str := func(s string) []byte {
		b, _ := json.Marshal(s) // a string always marshals
		return b
	}
	var b bytes.Buffer
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	first := true
	for id, typ := range v.Types {
		if typ != TypeControl && typ != TypeUserDefined && typ != TypeUnknown {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "\n    {\"id\": %d, \"content\": %s, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": %v}",
			id, str(v.Tokens[id]), typ != TypeUserDefined)
	}
	normalizer := "null"
	if v.NFC {
		normalizer = `{"type": "NFC"}`
	}
	fmt.Fprintf(&b, "\n  ],\n  \"normalizer\": %s,\n  \"pre_tokenizer\": %s", normalizer, pre)
	const byteLevel = `{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}`
	post, err := postProcessorJSON(v, byteLevel)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(&b, ",\n  \"post_processor\": %s,\n  \"decoder\": %s,\n", post, byteLevel)
	fmt.Fprintf(&b, "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": %v,\n    \"vocab\": {", p.ignoreMerges)
	first = true
	for id, typ := range v.Types {
		if typ != TypeNormal {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "\n      %s: %d", str(v.Tokens[id]), id)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	for i, m := range v.Merges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		b.Write(str(m))
	}
	b.WriteString("\n    ]\n  }\n}\n")

	tc := map[string]any{
		"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": v.AddBOS, "add_eos_token": v.AddEOS,
		"clean_up_tokenization_spaces": false, "bos_token": nil, "eos_token": nil, "unk_token": nil,
	}
	for key, id := range map[string]int{"bos_token": v.BOS, "eos_token": v.EOS, "unk_token": v.UNK} {
		if id >= len(v.Tokens) {
			return nil, nil, fmt.Errorf("tokenizer: %s %d is outside the vocabulary of %d", key, id, len(v.Tokens))
		}
		if id >= 0 {
			typ := v.Types[id]
			special := typ == TypeControl || typ == TypeUserDefined || typ == TypeUnknown
			if !special && key == "bos_token" && !v.AddBOS {
				// llama.cpp's default BOS of a GGUF that names none (id 11,
				// for Qwen: ","): never added, and not nameable in
				// tokenizer_config.json. config.json keeps its id.
				continue
			}
			if !special {
				return nil, nil, fmt.Errorf("tokenizer: %s %d (%q) is a normal token; Hugging Face names special tokens among the added tokens", key, id, v.Tokens[id])
			}
			tc[key] = v.Tokens[id]
		}
	}
	cfg, err := json.MarshalIndent(tc, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes(), append(cfg, '\n'), nil
}

// postProcessorJSON is the tokenizer.json post_processor: byteLevel, and a
// TemplateProcessing that puts BOS before (AddBOS) and EOS after (AddEOS)
// each sequence if v adds either.
func postProcessorJSON(v Vocab, byteLevel string) (string, error) {
	if !v.AddBOS && !v.AddEOS {
		return byteLevel, nil
	}
	var ids []int
	if v.AddBOS {
		ids = append(ids, v.BOS)
	}
	if v.AddEOS {
		ids = append(ids, v.EOS)
	}
	for _, id := range ids {
		if id < 0 || id >= len(v.Tokens) {
			return "", fmt.Errorf("tokenizer: the vocabulary adds token %d, outside its %d tokens", id, len(v.Tokens))
		}
	}
	special := func(id, typeID int) string {
		text, _ := json.Marshal(v.Tokens[id])
		return fmt.Sprintf(`{"SpecialToken": {"id": %s, "type_id": %d}}`, text, typeID)
	}
	seq := func(name string, typeID int) string {
		return fmt.Sprintf(`{"Sequence": {"id": %q, "type_id": %d}}`, name, typeID)
	}
	var single, pair []string
	for i, name := range []string{"A", "B"} {
		part := []string{}
		if v.AddBOS {
			part = append(part, special(v.BOS, i))
		}
		part = append(part, seq(name, i))
		if v.AddEOS {
			part = append(part, special(v.EOS, i))
		}
		if i == 0 {
			single = part
		}
		pair = append(pair, part...)
	}
	specials := map[string]any{}
	for _, id := range ids {
		specials[v.Tokens[id]] = map[string]any{"id": v.Tokens[id], "ids": []int{id}, "tokens": []string{v.Tokens[id]}}
	}
	sp, err := json.Marshal(specials)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`{"type": "Sequence", "processors": [%s, {"type": "TemplateProcessing", "single": [%s], "pair": [%s], "special_tokens": %s}]}`,
		byteLevel, strings.Join(single, ", "), strings.Join(pair, ", "), sp), nil
}

// hfPreJSON is the tokenizer.json pre_tokenizer for a tokenizer.ggml.pre
// name: the inverse of hfPreName.
func hfPreJSON(pre string) (string, error) {
	split := func(regex string) string {
		r, _ := json.Marshal(regex)
		return `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` + string(r) +
			`}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]}`
	}
	switch pre {
	case "gpt-2":
		return `{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true}`, nil
	case "smollm":
		return `{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true}]}`, nil
	case "llama-bpe", "llama3", "llama-v3":
		return split(llama3Regex), nil
	case "qwen2":
		return split(qwen2Regex), nil
	}
	_, err := lookupPre(pre)
	if err == nil {
		err = fmt.Errorf("tokenizer: no tokenizer.json form for pre-tokenizer %q", pre)
	}
	return "", err
}
