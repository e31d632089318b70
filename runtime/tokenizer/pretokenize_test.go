package tokenizer

import (
	"slices"
	"testing"
)

// TestPreTokenizerWords checks each splitter on strings whose words were
// worked out by hand from the regexes (leftmost alternative, greedy,
// backtracking into \s+(?!\S)), not from the code.
func TestPreTokenizerWords(t *testing.T) {
	for _, c := range []struct {
		pre, text string
		want      []string
	}{
		{"gpt-2", "Hello world's  123  !!\n\n x", []string{"Hello", " world", "'s", " ", " 123", " ", " !!", "\n\n", " x"}},
		{"gpt-2", "'S 'll", []string{"'", "S", " '", "ll"}},       // case-sensitive contractions
		{"gpt-2", "a\t\tb ", []string{"a", "\t", "\t", "b", " "}}, // only ' ' prefixes a word

		{"gpt-2", "x\u00a0\u00a0 y", []string{"x", "\u00a0\u00a0", " y"}}, // U+00A0 is \s
		{"llama-bpe", "Hello world's  12345  !!\n\n x", []string{"Hello", " world", "'s", " ", " ", "123", "45", " ", " !!\n\n", " x"}},
		{"llama-bpe", "'S 'LL a!!\n\nb", []string{"'S", " '", "LL", " a", "!!\n\n", "b"}},
		{"llama-bpe", "$x \r\n  y", []string{"$x", " \r\n", " ", " y"}},
		{"llama-bpe", "١٢٣٤", []string{"١٢٣", "٤"}}, // Arabic-Indic digits are \p{N}
		{"qwen2", "v12345 'Ve", []string{"v", "1", "2", "3", "4", "5", " '", "Ve"}},
		{"qwen2", "a 'Ve", []string{"a", " '", "Ve"}},
		{"smollm", "abc123 def", []string{"abc", "1", "2", "3", " def"}},
		{"smollm", "x 1 2", []string{"x", " ", "1", " ", "2"}},
	} {
		var got []string
		preTokenizers[c.pre].split(c.text, func(w string) { got = append(got, w) })
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %q:\n got %q\nwant %q", c.pre, c.text, got, c.want)
		}
	}
}
