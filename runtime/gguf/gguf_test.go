package gguf

import (
	"bytes"
	"encoding/binary"
	"github.com/shear-ai/shear/internal/testshared"
	"os"
	"reflect"
	"strings"
	"testing"
)

func sharedPath(t testing.TB, rel string) string { return testshared.Path(t, rel) }

func readShared(t testing.TB, rel string) []byte {
	b, err := os.ReadFile(sharedPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadStories(t *testing.T) {
	f, err := Parse(readShared(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || len(f.Tensors) != 48 {
		t.Fatalf("version %d, %d tensors", f.Version, len(f.Tensors))
	}
	if n, _ := f.Int("llama.embedding_length"); n != 64 {
		t.Errorf("embedding_length = %d", n)
	}
	if eps, _ := f.Float("llama.attention.layer_norm_rms_epsilon"); float32(eps) != 1e-5 {
		t.Errorf("eps = %v", eps)
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	if len(toks) != 512 || toks[1] != "<s>" {
		t.Errorf("tokens: %d, %q", len(toks), toks[:3])
	}
	q, ok := f.Tensor("blk.0.attn_q.weight")
	if !ok || !reflect.DeepEqual(q.Dims, []uint64{64, 64}) || q.Type != F32 || len(f.TensorData(q)) != 64*64*4 {
		t.Errorf("attn_q: %+v", q)
	}
}

// TestRoundTrip: read → write → read keeps every pair and tensor, and
// writing again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"models/stories260K.gguf", "models/llama-2-tiny-random.gguf", "models/ggml-vocab-llama-spm.gguf"} {
		orig := readShared(t, name)
		f1, err := Parse(orig)
		if err != nil {
			t.Fatal(err)
		}
		w1 := rewrite(t, f1)
		f2, err := Parse(w1)
		if err != nil {
			t.Fatalf("%s: rewritten file: %v", name, err)
		}
		if !reflect.DeepEqual(f1.KV, f2.KV) {
			t.Errorf("%s: metadata differs after round trip", name)
		}
		if len(f1.Tensors) != len(f2.Tensors) {
			t.Fatalf("%s: tensor count %d → %d", name, len(f1.Tensors), len(f2.Tensors))
		}
		for i := range f1.Tensors {
			a, b := &f1.Tensors[i], &f2.Tensors[i]
			if a.Name != b.Name || a.Type != b.Type || !reflect.DeepEqual(a.Dims, b.Dims) || !bytes.Equal(f1.TensorData(a), f2.TensorData(b)) {
				t.Errorf("%s: tensor %s differs", name, a.Name)
			}
		}
		if w2 := rewrite(t, f2); !bytes.Equal(w1, w2) {
			t.Errorf("%s: second write differs from the first", name)
		}
		// These files were written by ggml's own writer: the layout must match it byte for byte.
		if !bytes.Equal(orig, w1) {
			t.Errorf("%s: rewrite is not byte-identical to the original (%d vs %d bytes)", name, len(w1), len(orig))
		}
	}
}

func rewrite(t *testing.T, f *File) []byte {
	b := NewBuilder()
	b.Alignment = f.Alignment
	b.CopyMetadata(f, nil)
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if err := b.AddTensor(ti.Name, ti.Type, ti.Dims, f.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAllValueTypes(t *testing.T) {
	b := NewBuilder()
	vals := map[string]any{
		"u8": uint8(200), "i8": int8(-5), "u16": uint16(60000), "i16": int16(-300), "u32": uint32(4e9), "i32": int32(-7),
		"f32": float32(1.5), "bool": true, "str": "héllo", "u64": uint64(1 << 60), "i64": int64(-1 << 60), "f64": 2.25,
		"au8": []uint8{1, 2}, "ai8": []int8{-1}, "au16": []uint16{7}, "ai16": []int16{-7}, "au32": []uint32{9, 10},
		"ai32": []int32{-9}, "af32": []float32{0.5}, "abool": []bool{true, false}, "astr": []string{"a", ""},
		"au64": []uint64{11}, "ai64": []int64{-11}, "af64": []float64{3.5}, "empty": []int32{},
	}
	for k, v := range vals {
		b.Set(k, v)
	}
	if err := b.AddTensor("t", F16, []uint64{3, 2}, make([]byte, 12)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vals {
		kv, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(kv.Value, v) {
			t.Errorf("%s: got %#v, want %#v", k, kv.Value, v)
		}
	}
	if ints, ok := f.Ints("au16"); !ok || ints[0] != 7 {
		t.Errorf("Ints(au16) = %v", ints)
	}
	if err := b.AddTensor("bad", F16, []uint64{3, 2}, make([]byte, 11)); err == nil {
		t.Error("AddTensor accepted the wrong data size")
	}
}

// TestCorrupt: every kind of damage gives an error naming the problem.
func TestCorrupt(t *testing.T) {
	good := readShared(t, "models/stories260K.gguf")
	f, _ := Parse(good)
	// Offsets of fields in the first tensor info, found by re-encoding.
	headerEnd := int(f.DataStart)
	firstInfo := bytes.Index(good, []byte("token_embd.weight")) - 8

	mutate := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	put64 := func(b []byte, off int, v uint64) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	put32 := func(b []byte, off int, v uint32) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	nameLen := len("token_embd.weight")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"version 1", mutate(func(b []byte) []byte { return put32(b, 4, 1) }), "unsupported version 1"},
		{"absurd tensor count", mutate(func(b []byte) []byte { return put64(b, 8, 1<<60) }), "tensor count"},
		{"absurd kv count", mutate(func(b []byte) []byte { return put64(b, 16, 1<<62) }), "metadata count"},
		{"absurd string length", mutate(func(b []byte) []byte { return put64(b, 24, 1<<62) }), "string length"},
		{"absurd array length", mutate(func(b []byte) []byte {
			// first KV: tokenizer.ggml.tokens array: key len(8) key type(4) elemtype(4) count(8)
			off := 24 + 8 + len("tokenizer.ggml.tokens") + 4 + 4
			return put64(b, off, 1<<61)
		}), "array of"},
		{"unknown value type", mutate(func(b []byte) []byte { return put32(b, 24+8+len("tokenizer.ggml.tokens"), 99) }), "unknown value type"},
		{"too many dims", mutate(func(b []byte) []byte { return put32(b, firstInfo+8+nameLen, 9) }), "dimensions"},
		{"zero dim", mutate(func(b []byte) []byte { return put64(b, firstInfo+8+nameLen+4, 0) }), "dimension 0"},
		{"unknown tensor type", mutate(func(b []byte) []byte { return put32(b, firstInfo+8+nameLen+4+16, 77) }), "unsupported tensor type"},
		{"misaligned offset", mutate(func(b []byte) []byte { return put64(b, firstInfo+8+nameLen+4+16+4, 3) }), "not aligned"},
		{"tensor past end", mutate(func(b []byte) []byte { return put64(b, firstInfo+8+nameLen+4+16+4, 1<<40) }), "past the end"},
		{"truncated data", good[:len(good)-100], "past the end"},
		{"truncated header", good[:headerEnd/2], "truncated"},
		{"truncated at 10", good[:10], "truncated"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	// Every prefix of the header parses to an error, never a panic.
	for n := 0; n < headerEnd; n += 7 {
		if _, err := Parse(good[:n]); err == nil {
			t.Fatalf("prefix of %d bytes parsed without error", n)
		}
	}
}

func FuzzParse(f *testing.F) {
	good := readShared(f, "models/llama-2-tiny-random.gguf")
	f.Add(good[:4096])
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			_ = g.TensorData(&g.Tensors[i])
		}
	})
}
