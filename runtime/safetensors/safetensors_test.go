package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sample(t *testing.T) []Tensor {
	t.Helper()
	var out []Tensor
	for _, c := range []struct {
		name, dtype string
		shape       []int
	}{
		{"a.f16", F16, []int{3, 5}},
		{"b.f32", F32, []int{7}},
		{"c.bf16", BF16, []int{2, 2, 2}},
		{"d.scalar", F32, []int{}},
		{"e.empty", F16, []int{0, 4}},
	} {
		n := 1
		for _, d := range c.shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)*0.25 - 1
		}
		tn, err := FromFloat32(c.name, c.shape, v, c.dtype)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tn)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	in := sample(t)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	meta := map[string]string{"format": "pt", "note": "ünïcode \"quoted\""}
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors read, %d written", len(f.Tensors), len(in))
	}
	for _, w := range in {
		g, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %s missing", w.Name)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %s: got %s %v, want %s %v", w.Name, g.DType, g.Shape, w.DType, w.Shape)
		}
		// Widest dtype first: every tensor is aligned to its element size.
		hdr := binary.LittleEndian.Uint64(mustRead(t, path))
		if len(g.Data) > 0 {
			raw := mustRead(t, path)
			off := bytes.Index(raw[8+hdr:], g.Data)
			if off%ElemSize(g.DType) != 0 {
				t.Errorf("tensor %s at data offset %d is not aligned", w.Name, off)
			}
		}
	}
	if f.Metadata["note"] != meta["note"] || f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// Float conversions: these values are exact in every dtype.
	for _, w := range in {
		g, _ := f.Tensor(w.Name)
		v, err := g.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			if want := float32(i)*0.25 - 1; x != want {
				t.Fatalf("%s[%d] = %v, want %v", w.Name, i, x, want)
			}
		}
	}
	if hdr := binary.LittleEndian.Uint64(mustRead(t, path)); hdr%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hdr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81},
		{float32(math.Inf(-1)), 0xff80},
	} {
		if got := toBF16(c.in); got != c.want {
			t.Errorf("toBF16(%#x) = %#x, want %#x", math.Float32bits(c.in), got, c.want)
		}
	}
	if got := toBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN → %#x", got)
	}
}

// raw builds a file from a header string and a data section.
func raw(header string, data int) []byte {
	b := make([]byte, 8, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

func TestMalformed(t *testing.T) {
	long := make([]byte, 8)
	binary.LittleEndian.PutUint64(long, 1<<40)
	past := make([]byte, 16)
	binary.LittleEndian.PutUint64(past, 9)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge header", long, "exceeds the"},
		{"header past end", past, "exceeds the 8 bytes"},
		{"not json", raw("hello!!!", 0), "not well-formed JSON"},
		{"array", raw(`[1,2]   `, 0), "not a JSON object"},
		{"truncated json", raw(`{"a":{"dtype":"F32"`, 0), "not"},
		{"duplicate", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "twice"},
		{"dtype", raw(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8), `dtype "I64" is not supported`},
		{"no dtype", raw(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), "dtype is missing"},
		{"no shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "shape is missing"},
		{"no offsets", raw(`{"a":{"dtype":"F32","shape":[1]}}`, 4), "data_offsets is missing"},
		{"3 offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4), "3 entries"},
		{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "negative"},
		{"float dim", raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "not an integer"},
		{"huge shape", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "too large"},
		{"descending", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 4), "ascending"},
		{"negative offset", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4), "non-negative"},
		{"past data", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "run past"},
		{"size mismatch", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8 bytes"},
		{"overlap", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"gap", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "belong to no tensor"},
		{"trailing data", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), "after the last tensor"},
		{"trailing json", raw(`{} {}`, 0), "after its JSON object"},
		{"metadata", raw(`{"__metadata__":{"a":1}}`, 0), "not a string"},
		{"metadata null", raw(`{"__metadata__":null}`, 0), "not an object"},
		{"entry not object", raw(`{"a":3}`, 0), "not an object"},
		{"bad utf8", raw("{\"\xff\":1}", 0), "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.b)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestValidMinimal(t *testing.T) {
	for _, h := range []string{`{}`, `{}      `, `{"__metadata__":{}}`} {
		if _, err := Parse(raw(h, 0)); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func TestWriteErrorsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.safetensors")
	bad := [][]Tensor{
		{{Name: "a", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}},
		{{Name: "a", DType: "I8", Shape: []int{1}, Data: make([]byte, 1)}},
		{{Name: "a", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}, {Name: "a", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}},
		{{Name: "__metadata__", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}},
	}
	for i, ts := range bad {
		if err := Write(path, ts, nil); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("failed writes left %d files", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "x.safetensors"), sample(t), nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestSharded(t *testing.T) {
	in := sample(t)
	dir := t.TempDir()
	files, err := WriteSharded(dir, in, map[string]string{"format": "pt"}, 40)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 || files[len(files)-1] != IndexName {
		t.Fatalf("files %v", files)
	}
	f, err := ReadIndex(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range in {
		g, ok := f.Tensor(w.Name)
		if !ok || !bytes.Equal(g.Data, w.Data) || !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("tensor %s differs after sharded round trip", w.Name)
		}
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// A weight_map that points outside the directory or at a shard without
	// the tensor is refused.
	for _, idx := range []string{
		`{"weight_map":{"a.f16":"../x.safetensors"}}`,
		`{"weight_map":{"zzz":"` + files[0] + `"}}`,
		`{"weight_map":{}}`,
		`{"weight_map":`,
	} {
		p := filepath.Join(dir, "bad.index.json")
		os.WriteFile(p, []byte(idx), 0o644)
		if _, err := ReadIndex(p); err == nil {
			t.Errorf("index %s accepted", idx)
		}
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, []Tensor{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 8)}, {Name: "b", DType: F16, Shape: []int{1}, Data: make([]byte, 2)}}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		for i := range file.Tensors {
			if _, err := file.Tensors[i].Float32(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
