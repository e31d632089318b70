package llama2c

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

const stories = "../../../shared/models/stories260K.gguf"

func loadStories(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Load(stories, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomGQA(t *testing.T) *model.Model {
	t.Helper()
	src := loadStories(t)
	c := model.UniformConfig(64, 96, 2, 4, 2, src.Vocab, 32)
	c.Tied = true
	m, err := model.NewRandom(c, tensor.F32, 11)
	if err != nil {
		t.Fatal(err)
	}
	m.Tok = src.Tok
	return m
}

func ggufOf(t *testing.T, m *model.Model) *gguf.File {
	t.Helper()
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRoundTrip: GGUF → .bin (+ tokenizer.bin) → GGUF gives identical
// tensors and identical logits, for stories260K (untied) and a tied GQA model.
func TestRoundTrip(t *testing.T) {
	for _, mk := range []func(*testing.T) *model.Model{loadStories, randomGQA} {
		m := mk(t)
		dir := t.TempDir()
		bin, tokbin := filepath.Join(dir, "model.bin"), filepath.Join(dir, "tokenizer.bin")
		if err := Save(m, bin); err != nil {
			t.Fatal(err)
		}
		if err := WriteTokenizer(tokbin, m.Tok.Vocab()); err != nil {
			t.Fatal(err)
		}
		v, err := ReadTokenizer(tokbin, m.Vocab)
		if err != nil {
			t.Fatal(err)
		}
		want := m.Tok.Vocab()
		if !slices.Equal(v.Tokens, want.Tokens) || !slices.Equal(v.Scores, want.Scores) || !slices.Equal(v.Types, want.Types) {
			t.Error("vocabulary differs after tokenizer.bin round trip")
		}
		m2, err := Load(bin, v, model.LoadOptions{DType: tensor.F32})
		if err != nil {
			t.Fatal(err)
		}
		a, b := ggufOf(t, m), ggufOf(t, m2)
		if len(a.Tensors) != len(b.Tensors) {
			t.Fatalf("%d vs %d tensors", len(a.Tensors), len(b.Tensors))
		}
		for i := range a.Tensors {
			ta := &a.Tensors[i]
			tb, ok := b.Tensor(ta.Name)
			if !ok || ta.Type != tb.Type || !slices.Equal(ta.Dims, tb.Dims) || !bytes.Equal(a.TensorData(ta), b.TensorData(tb)) {
				t.Fatalf("tensor %s differs", ta.Name)
			}
		}
		toks := []int{1, 403, 407, 261, 378}
		la, _ := m.NewState(8, 8).Forward(toks, true)
		la = slices.Clone(la)
		lb, _ := m2.NewState(8, 8).Forward(toks, true)
		if !slices.Equal(la, lb) {
			t.Error("logits differ")
		}
		// The header says what the model is.
		raw, _ := os.ReadFile(bin)
		c, err := ParseHeader(raw)
		if err != nil || c.Shared != m.Tied || c.SeqLen != m.CtxLen || c.KVHeads != m.KVHeads[0] {
			t.Errorf("header %+v (%v)", c, err)
		}
		// freq_cis_real at position 1, frequency 0 is cos(1).
		off := HeaderSize + 4*int(c.floats()-int64(c.SeqLen*m.HeadDim))
		if !c.Shared {
			off -= 4 * c.Vocab * c.Dim
		}
		half := m.HeadDim / 2
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[off+4*half:])); math.Abs(float64(got)-math.Cos(1)) > 1e-6 {
			t.Errorf("freq_cis_real[1][0] = %v", got)
		}
	}
}

func TestSaveRefuses(t *testing.T) {
	dir := t.TempDir()
	m := loadStories(t)
	for name, edit := range map[string]func(c *model.Config){
		"widths": func(c *model.Config) { c.FFN = []int{172, 172, 100, 172, 172} },
		"base":   func(c *model.Config) { c.RopeBase = 500000 },
		"eps":    func(c *model.Config) { c.NormEps = 1e-6 },
		"ctx":    func(c *model.Config) { c.CtxLen = 0 },
		"rope":   func(c *model.Config) { c.RopeDim = 4 },
	} {
		bad := *m
		bad.Config.FFN = slices.Clone(m.FFN)
		edit(&bad.Config)
		if err := Save(&bad, filepath.Join(dir, name+".bin")); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if e, _ := os.ReadDir(dir); len(e) != 0 {
		t.Errorf("refused saves left %d files", len(e))
	}
}

func header(v ...int32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func TestMalformed(t *testing.T) {
	m := loadStories(t)
	var good bytes.Buffer
	if err := Encode(&good, m); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	nan := slices.Clone(g)
	binary.LittleEndian.PutUint32(nan[HeaderSize+8:], 0x7fc00000)
	v := m.Tok.Vocab()
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"v1 export", append(header(magicV1, 1), make([]byte, 300)...), "versioned"},
		{"zero dim", header(0, 1, 1, 1, 1, 1, 1), "dim = 0"},
		{"negative layers", header(8, 8, -1, 1, 1, 1, 1), "n_layers = -1"},
		{"huge", header(1<<30, 8, 1, 1, 1, 1, 1), "out of range"},
		{"heads", header(10, 8, 1, 3, 1, 1, 1), "n_heads"},
		{"kv heads", header(8, 8, 1, 2, 3, 1, 1), "n_kv_heads"},
		{"truncated", g[:len(g)-4], "implies"},
		{"trailing", append(slices.Clone(g), 0, 0, 0, 0), "implies"},
		{"huge claim", header(4096, 1<<18, 4096, 32, 32, 1<<22, 1<<22), "implies"},
		{"nan", nan, "NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.b, v, model.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not mention %q", err, c.want)
			}
		})
	}
	small := v
	small.Tokens, small.Scores, small.Types = v.Tokens[:100], v.Scores[:100], v.Types[:100]
	if _, err := Parse(g, small, model.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "vocabulary has 100") {
		t.Errorf("vocab mismatch: %v", err)
	}
}

func TestTokenizerMalformed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer.bin")
	if err := WriteTokenizer(path, loadStories(t).Tok.Vocab()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	neg := slices.Clone(good)
	binary.LittleEndian.PutUint32(neg[8:], 0xffffffff) // token 0's length
	cases := []struct {
		name string
		b    []byte
		n    int
		want string
	}{
		{"empty", nil, 512, "too short"},
		{"negative max", header(-1), 512, "negative"},
		{"truncated", good[:len(good)-3], 512, "length"},
		{"negative len", neg, 512, "length -1"},
		{"too few", good, 600, "truncated"},
		{"too many", good, 500, "after its 500 tokens"},
		{"only header", header(5), 0, "fewer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTokenizer(c.b, c.n)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not mention %q", err, c.want)
			}
		})
	}
	v, err := ParseTokenizer(good, 0) // until the end
	if err != nil || len(v.Tokens) != 512 {
		t.Errorf("read to EOF: %d tokens, %v", len(v.Tokens), err)
	}
}
