package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/hf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

const storiesGGUF = "../../../shared/models/stories260K.gguf"
const vocabGGUF = "../../../shared/models/ggml-vocab-llama-spm.gguf"

// runCLI runs one shear command in-process with --json and returns the
// JSON object it printed.
func runCLI(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = out
	root := newRoot()
	root.SetArgs(append(args, "--json"))
	runErr := root.Execute()
	os.Stdout = saved
	g = globals{}
	out.Seek(0, 0)
	var res map[string]any
	if runErr == nil {
		if err := json.NewDecoder(out).Decode(&res); err != nil {
			t.Fatalf("%v: output is not JSON: %v", args, err)
		}
	}
	out.Close()
	return res, runErr
}

func mustRun(t *testing.T, args ...string) map[string]any {
	t.Helper()
	res, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("shear %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// sameTensorBytes checks that two GGUF files hold the same tensors.
func sameTensorBytes(t *testing.T, a, b string) {
	t.Helper()
	fa, err := gguf.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := gguf.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Fatalf("%s has %d tensors, %s %d", a, len(fa.Tensors), b, len(fb.Tensors))
	}
	for i := range fa.Tensors {
		ta := &fa.Tensors[i]
		tb, ok := fb.Tensor(ta.Name)
		if !ok || ta.Type != tb.Type || !bytes.Equal(fa.TensorData(ta), fb.TensorData(tb)) {
			t.Fatalf("tensor %s differs between %s and %s", ta.Name, a, b)
		}
	}
}

// TestConvertRoundTrips: stories260K through every format and back gives
// its own tensor bytes (f32), and the f16 round trip through HF is exact.
func TestConvertRoundTrips(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	res := mustRun(t, "convert", "-m", storiesGGUF, "-o", p("hf"))
	if res["format"] != "hf" || res["dtype"] != "f32" || res["params"].(float64) != 292800 || res["bytes"].(float64) <= 0 {
		t.Errorf("convert to hf: %v", res)
	}
	mustRun(t, "convert", "-m", p("hf"), "-o", p("from-hf.gguf"))
	sameTensorBytes(t, storiesGGUF, p("from-hf.gguf"))

	res = mustRun(t, "convert", "-m", storiesGGUF, "-o", p("model.bin"))
	if _, err := os.Stat(p("tokenizer.bin")); err != nil || res["format"] != "llama2c" {
		t.Fatalf("llama2c output: %v (%v)", res, err)
	}
	mustRun(t, "convert", "-m", p("model.bin"), "-o", p("from-bin.gguf"))                                   // tokenizer.bin beside it
	mustRun(t, "convert", "-m", p("model.bin"), "--tokenizer", storiesGGUF, "-o", p("from-bin2.gguf"))      // vocabulary from a GGUF
	mustRun(t, "convert", "-m", p("from-bin.gguf"), "--to", "hf", "-o", p("hf-from-bin"), "--dtype", "f32") // chain on
	sameTensorBytes(t, storiesGGUF, p("from-bin.gguf"))
	sameTensorBytes(t, storiesGGUF, p("from-bin2.gguf"))

	mustRun(t, "convert", "-m", storiesGGUF, "--dtype", "f16", "-o", p("f16.gguf"))
	res = mustRun(t, "convert", "-m", p("f16.gguf"), "-o", p("hf16"))
	if res["dtype"] != "f16" {
		t.Errorf("f16 input written to HF as %v", res["dtype"])
	}
	mustRun(t, "convert", "-m", p("hf16"), "-o", p("f16-back.gguf"))
	sameTensorBytes(t, p("f16.gguf"), p("f16-back.gguf"))

	res = mustRun(t, "convert", "-m", storiesGGUF, "--dtype", "bf16", "-o", p("hfbf16"))
	if res["dtype"] != "bf16" {
		t.Errorf("bf16: %v", res)
	}
	if m, err := hf.Load(p("hfbf16"), model.LoadOptions{DType: tensor.F32}); err != nil || m.Vocab != 512 {
		t.Errorf("bf16 directory: %v", err)
	}
}

func TestQuantize(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"f16", "q8_0", "q4_0"} {
		out := filepath.Join(dir, typ+".gguf")
		res := mustRun(t, "quantize", "-m", storiesGGUF, "--type", typ, "-o", out)
		if res["type"] != typ || res["bytes"].(float64) >= res["input_bytes"].(float64) {
			t.Errorf("%s: %v", typ, res)
		}
		f, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := f.Tensor("blk.0.attn_q.weight")
		down, _ := f.Tensor("blk.0.ffn_down.weight") // 172 columns: not whole blocks, stays f16
		if !strings.EqualFold(q.Type.String(), typ) || down.Type != gguf.F16 {
			t.Errorf("%s: attn_q is %s, ffn_down is %s", typ, q.Type, down.Type)
		}
		if _, err := model.Load(out, model.LoadOptions{DType: tensor.F16}); err != nil {
			t.Error(err)
		}
	}
	if _, err := runCLI(t, "quantize", "-m", storiesGGUF, "--type", "q5_k", "-o", filepath.Join(dir, "x.gguf")); err == nil {
		t.Error("--type q5_k accepted")
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "byte.gguf")
	res := mustRun(t, "init", "--dim", "64", "--hidden", "96", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", "300", "--seed", "3", "-o", out)
	m, err := model.Load(out, model.LoadOptions{DType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocab != 300 || m.KVHeads[0] != 2 || float64(m.Params()) != res["params"].(float64) || res["vocab_source"] != "byte-level" {
		t.Errorf("byte-level init: %v, vocab %d", res, m.Vocab)
	}
	if ids := m.Tok.Encode("Hi!"); len(ids) != 6 { // ▁ (3 bytes) + H i !
		t.Errorf("byte-level encoding of Hi!: %v", ids)
	}
	out2 := filepath.Join(dir, "llama.gguf")
	res = mustRun(t, "init", "--dim", "32", "--hidden", "64", "--layers", "1", "--heads", "2", "--vocab-from", vocabGGUF, "--tied", "-o", out2)
	if res["vocab"].(float64) != 32000 {
		t.Errorf("vocab-from: %v", res)
	}
	m, err = model.Load(out2, model.LoadOptions{DType: tensor.F16})
	if err != nil || !m.Tied || m.Tok.Vocab().Tokens[1000] != "ied" {
		t.Errorf("vocab-from model: %v", err)
	}
	for _, args := range [][]string{
		{"init", "--shape", "7B", "-o", out2 + "x"},
		{"init", "--dim", "64", "-o", out2 + "x"},
		{"init", "--dim", "30", "--hidden", "8", "--layers", "1", "--heads", "4", "-o", out2 + "x"},
		{"init", "--dim", "32", "--hidden", "8", "--layers", "1", "--heads", "4", "--vocab", "100", "-o", out2 + "x"},
		{"init", "--dim", "32", "--hidden", "8", "--layers", "1", "--heads", "4", "--vocab-from", vocabGGUF, "--vocab", "100", "-o", out2 + "x"},
	} {
		if _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := os.Stat(out2 + "x"); err == nil {
		t.Error("a refused init left an output")
	}
}

// TestConvertFailuresLeaveNothing: malformed inputs of every format, and
// outputs that cannot be written, give an error and no output file.
func TestConvertFailuresLeaveNothing(t *testing.T) {
	src := t.TempDir()
	p := func(name string) string { return filepath.Join(src, name) }
	good, err := os.ReadFile(storiesGGUF)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "convert", "-m", storiesGGUF, "-o", p("hf"))
	mustRun(t, "convert", "-m", storiesGGUF, "-o", p("model.bin"))
	bin, _ := os.ReadFile(p("model.bin"))
	tokbin, _ := os.ReadFile(p("tokenizer.bin"))
	write := func(name string, b []byte) string {
		os.MkdirAll(filepath.Dir(p(name)), 0o755)
		os.WriteFile(p(name), b, 0o644)
		return p(name)
	}
	copyHF := func(name string, edit func(dir string)) string {
		dir := p(name)
		os.MkdirAll(dir, 0o755)
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model"} {
			b, _ := os.ReadFile(filepath.Join(p("hf"), f))
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		edit(dir)
		return dir
	}
	// A pruned (per-layer) model, which llama2.c cannot hold.
	pruned := p("pruned.gguf")
	{
		m, err := model.Load(storiesGGUF, model.LoadOptions{DType: tensor.F32})
		if err != nil {
			t.Fatal(err)
		}
		c := model.UniformConfig(64, 172, 2, 8, 4, m.Vocab, 64)
		c.FFN = []int{172, 100}
		r, err := model.NewRandom(c, tensor.F32, 1)
		if err != nil {
			t.Fatal(err)
		}
		r.Tok = m.Tok
		if err := r.Save(pruned); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"truncated gguf", []string{"-m", write("trunc.gguf", good[:len(good)/3])}, "truncated"},
		{"garbage", []string{"-m", write("garbage.dat", []byte("hello, world, this is not a model"))}, "not a GGUF"},
		{"empty", []string{"-m", write("empty.gguf", nil)}, "not a GGUF"},
		{"gguf bad magic version", []string{"-m", write("v9.gguf", append([]byte("GGUF\x09\x00\x00\x00"), good[8:]...))}, "version"},
		{"truncated bin", []string{"-m", write("b/model.bin", bin[:len(bin)-8]), "--tokenizer", p("tokenizer.bin")}, "implies"},
		{"bad bin header", []string{"-m", write("c/model.bin", append([]byte{0, 0, 0, 0}, bin[4:]...)), "--tokenizer", p("tokenizer.bin")}, "dim = 0"},
		{"bad tokenizer.bin", []string{"-m", p("model.bin"), "--tokenizer", write("tok.bin", tokbin[:100])}, "tokenizer"},
		{"bin without tokenizer", []string{"-m", write("d/model.bin", bin)}, "--tokenizer"},
		{"bad tokenizer.model", []string{"-m", copyHF("hf-badtok", func(d string) {
			os.WriteFile(filepath.Join(d, "tokenizer.model"), []byte{0x0a, 0x05, 0x0a}, 0o644)
		})}, "sentencepiece"},
		{"bad safetensors", []string{"-m", copyHF("hf-badst", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "model.safetensors"))
			b[8+3] = '!' // break the JSON header
			os.WriteFile(filepath.Join(d, "model.safetensors"), b, 0o644)
		})}, "safetensors"},
		{"bad config", []string{"-m", copyHF("hf-badcfg", func(d string) {
			os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
		})}, "gpt2"},
		{"dir without config", []string{"-m", src}, "config.json"},
		{"pruned to llama2c", []string{"-m", pruned, "--to", "llama2c"}, "differ in width"},
		{"q8 to llama2c", []string{"-m", storiesGGUF, "--to", "llama2c", "--dtype", "q8_0"}, "float32"},
		{"q8 to hf", []string{"-m", storiesGGUF, "--to", "hf", "--dtype", "q8_0"}, "f32, f16 or bf16"},
		{"bad dtype", []string{"-m", storiesGGUF, "--to", "gguf", "--dtype", "f64"}, "dtype"},
		{"bad format", []string{"-m", storiesGGUF, "--to", "onnx"}, "onnx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out")
			_, err := runCLI(t, append([]string{"convert", "-o", out}, c.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			if e, _ := os.ReadDir(outDir); len(e) != 0 {
				t.Fatalf("failed convert left %v in the output directory", e[0].Name())
			}
		})
	}
	// The output is never the input.
	before, _ := os.ReadFile(pruned)
	if _, err := runCLI(t, "convert", "-m", pruned, "-o", pruned); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("output = input: %v", err)
	}
	if _, err := runCLI(t, "quantize", "-m", pruned, "-o", "./"+pruned, "--type", "q8_0"); err == nil {
		t.Error("quantize over its input accepted")
	}
	if after, _ := os.ReadFile(pruned); !bytes.Equal(before, after) {
		t.Error("the input was modified")
	}
	// A directory output that exists and is not empty is refused.
	if _, err := runCLI(t, "convert", "-m", storiesGGUF, "-o", src, "--to", "hf"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty output directory: %v", err)
	}
}
