package llama2c

import (
	"bytes"
	"os"
	"testing"

	"github.com/shear-ai/shear/internal/tinymodel"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// FuzzParse: any model.bin either fails with an error or loads into a
// model that runs and encodes back to a file of the same size that loads
// and encodes to itself.
func FuzzParse(f *testing.F) {
	for layers := 1; layers <= 2; layers++ {
		var b bytes.Buffer
		if err := Encode(&b, tinymodel.New(layers, tensor.F32, uint64(layers))); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	vocab := tinymodel.Vocab()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, vocab, model.LoadOptions{DType: tensor.F32})
		if err != nil {
			return
		}
		st, err := m.NewBoundedState(2, 2, 64<<20)
		if err != nil {
			return
		}
		if _, err := st.Forward([]int{1, 0}, true); err != nil {
			t.Fatalf("a loaded model fails a forward pass: %v", err)
		}
		// The RoPE tables in the file are not read (Shear computes them),
		// so the bytes come back equal only from the second encoding on.
		var out, again bytes.Buffer
		if err := Encode(&out, m); err != nil {
			t.Fatalf("a loaded model does not encode: %v", err)
		}
		if out.Len() != len(b) {
			t.Fatalf("re-encoding changed %d bytes into %d", len(b), out.Len())
		}
		m2, err := Parse(out.Bytes(), vocab, model.LoadOptions{DType: tensor.F32})
		if err != nil {
			t.Fatalf("the re-encoded model does not parse: %v", err)
		}
		if err := Encode(&again, m2); err != nil || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("encoding is not stable (%v)", err)
		}
	})
}

// FuzzParseTokenizer: any tokenizer.bin either fails or gives a vocabulary
// a tokenizer accepts.
func FuzzParseTokenizer(f *testing.F) {
	var seed bytes.Buffer
	v := tinymodel.Vocab()
	dir := f.TempDir() + "/tokenizer.bin"
	if err := WriteTokenizer(dir, v); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(dir)
	if err != nil {
		f.Fatal(err)
	}
	seed.Write(b)
	f.Add(seed.Bytes(), uint8(len(v.Tokens)))
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		v, err := ParseTokenizer(b, int(n))
		if err != nil {
			return
		}
		if n > 0 && len(v.Tokens) != int(n) {
			t.Fatalf("asked for %d tokens, got %d", n, len(v.Tokens))
		}
	})
}
