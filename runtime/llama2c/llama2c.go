package llama2c

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/shear-ai/shear/internal/safefile"
	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/tokenizer"
)

// The constants run.c hard-codes.
const (
	NormEps  = 1e-5
	RopeBase = 10000
)

// HeaderSize is the size of the legacy header: seven int32.
const HeaderSize = 28

// magicV1 is "ak42", the magic of llama2.c's versioned exports.
const magicV1 = 0x616b3432

// Config is the header of a model.bin.
type Config struct {
	Dim, Hidden, Layers, Heads, KVHeads, Vocab, SeqLen int
	Shared                                             bool // classifier tied to the embedding (vocab_size > 0 in the file)
}

// ParseHeader reads and checks the header.
func ParseHeader(b []byte) (Config, error) {
	var c Config
	if len(b) < HeaderSize {
		return c, fmt.Errorf("llama2c: file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	if binary.LittleEndian.Uint32(b) == magicV1 {
		v := int32(binary.LittleEndian.Uint32(b[4:]))
		return c, fmt.Errorf("llama2c: this is a versioned llama2.c export (magic ak42, version %d); only the legacy version-0 model.bin is supported", v)
	}
	h := make([]int64, 7)
	for i := range h {
		h[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	c = Config{Dim: int(h[0]), Hidden: int(h[1]), Layers: int(h[2]), Heads: int(h[3]), KVHeads: int(h[4]),
		Vocab: int(h[5]), SeqLen: int(h[6]), Shared: h[5] > 0}
	if c.Vocab < 0 {
		c.Vocab = -c.Vocab
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{{"dim", c.Dim, 1 << 16}, {"hidden_dim", c.Hidden, 1 << 18}, {"n_layers", c.Layers, 4096}, {"n_heads", c.Heads, 1 << 12},
		{"n_kv_heads", c.KVHeads, 1 << 12}, {"vocab_size", c.Vocab, 1 << 22}, {"seq_len", c.SeqLen, 1 << 22}} {
		if f.v <= 0 || f.v > f.max {
			return c, fmt.Errorf("llama2c: header %s = %d is out of range (1..%d): not a llama2.c model.bin?", f.name, f.v, f.max)
		}
	}
	if c.Dim%c.Heads != 0 || (c.Dim/c.Heads)%2 != 0 {
		return c, fmt.Errorf("llama2c: dim %d is not n_heads %d × an even head size", c.Dim, c.Heads)
	}
	if c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("llama2c: n_heads %d is not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	}
	return c, nil
}

// floats is the number of float32 values after the header.
func (c Config) floats() int64 {
	d, hd, l := int64(c.Dim), int64(c.Hidden), int64(c.Layers)
	kv := int64(c.KVHeads) * d / int64(c.Heads)
	n := int64(c.Vocab)*d + l*d + l*d*d + 2*l*kv*d + l*d*d + l*d + 3*l*hd*d + d
	n += int64(c.SeqLen) * (d / int64(c.Heads)) // freq_cis_real and _imag, seq_len·head_size/2 each
	if !c.Shared {
		n += int64(c.Vocab) * d
	}
	return n
}

// ModelConfig is the Shear configuration of a llama2.c header.
func (c Config) ModelConfig() model.Config {
	mc := model.UniformConfig(c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.Vocab, c.SeqLen)
	mc.RopeBase, mc.NormEps, mc.Tied = RopeBase, NormEps, c.Shared
	return mc
}

// Load reads a llama2.c model.bin with the given vocabulary (which must
// have vocab_size tokens), storing matrices as opt.DType.
func Load(path string, vocab tokenizer.Vocab, opt model.LoadOptions) (*model.Model, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(b, vocab, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a whole model.bin held in b.
func Parse(b []byte, vocab tokenizer.Vocab, opt model.LoadOptions) (*model.Model, error) {
	c, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if want := HeaderSize + 4*c.floats(); int64(len(b)) != want {
		return nil, fmt.Errorf("llama2c: file is %d bytes but the header (%+v) implies %d", len(b), c, want)
	}
	if len(vocab.Tokens) != c.Vocab {
		return nil, fmt.Errorf("llama2c: the vocabulary has %d tokens but the model has vocab_size %d", len(vocab.Tokens), c.Vocab)
	}
	tok, err := tokenizer.New(vocab)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	mc := c.ModelConfig()
	m := &model.Model{Config: mc, Tok: tok, SourceStorage: tensor.F32} // llama2.c checkpoints are float32
	r := reader{b: b[HeaderSize:], dt: opt.DType}
	d, kv, ff, L := c.Dim, mc.KVHeads[0]*mc.HeadDim, c.Hidden, c.Layers
	m.Blocks = make([]model.Layer, L)
	m.Embed = r.matrix("token_embedding", c.Vocab, d)
	for l := range L {
		m.Blocks[l].AttnNorm = r.vector("rms_att", d)
	}
	for l := range L {
		m.Blocks[l].Wq = r.matrix("wq", d, d)
	}
	for l := range L {
		m.Blocks[l].Wk = r.matrix("wk", kv, d)
	}
	for l := range L {
		m.Blocks[l].Wv = r.matrix("wv", kv, d)
	}
	for l := range L {
		m.Blocks[l].Wo = r.matrix("wo", d, d)
	}
	for l := range L {
		m.Blocks[l].FFNNorm = r.vector("rms_ffn", d)
	}
	for l := range L {
		m.Blocks[l].Wgate = r.matrix("w1", ff, d)
	}
	for l := range L {
		m.Blocks[l].Wdown = r.matrix("w2", d, ff)
	}
	for l := range L {
		m.Blocks[l].Wup = r.matrix("w3", ff, d)
	}
	m.OutNorm = r.vector("rms_final", d)
	r.skip(c.SeqLen * mc.HeadDim) // freq_cis_real and freq_cis_imag
	if c.Shared {
		m.Output = m.Embed
	} else {
		m.Output = r.matrix("wcls", c.Vocab, d)
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// reader decodes float32 arrays in file order; the first error sticks.
type reader struct {
	b   []byte
	off int
	dt  tensor.DType
	err error
}

func (r *reader) floats(name string, n int) []float32 {
	if r.err != nil {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(r.b[r.off:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r.err = fmt.Errorf("llama2c: %s: value %d (file byte %d) is %v", name, i, HeaderSize+r.off, v)
			return nil
		}
		out[i] = v
		r.off += 4
	}
	return out
}

func (r *reader) skip(n int) { r.off += 4 * n }

func (r *reader) vector(name string, n int) []float32 { return r.floats(name, n) }

func (r *reader) matrix(name string, rows, cols int) *tensor.Matrix {
	v := r.floats(name, rows*cols)
	if v == nil {
		return nil
	}
	dt := r.dt
	if (dt == tensor.Q8_0 || dt == tensor.Q4_0) && cols%quant.BlockSize != 0 {
		dt = tensor.F16 // as tensor.FromGGUF and llama.cpp do for rows that are not whole blocks
	}
	if dt == tensor.F32 {
		return &tensor.Matrix{Rows: rows, Cols: cols, DType: tensor.F32, F32: v}
	}
	m, err := tensor.New(rows, cols, v, dt)
	if err != nil {
		r.err = fmt.Errorf("llama2c: %s: %w", name, err)
	}
	return m
}

// Check reports why m cannot be written as a llama2.c model.bin, or nil.
func Check(m *model.Model) error {
	c := &m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	switch {
	case !c.Uniform():
		return errors.New("llama2c: the layers differ in width (a pruned model); llama2.c needs the same widths in every layer")
	case c.Heads[0] == 0 || c.FFN[0] == 0:
		return errors.New("llama2c: llama2.c needs attention and an MLP in every layer")
	case c.Heads[0]*c.HeadDim != c.Dim:
		return fmt.Errorf("llama2c: %d heads × head size %d ≠ dim %d; llama2.c derives the head size as dim/n_heads", c.Heads[0], c.HeadDim, c.Dim)
	case c.RopeDim != c.HeadDim:
		return fmt.Errorf("llama2c: RoPE covers %d of %d head dimensions; llama2.c rotates whole heads", c.RopeDim, c.HeadDim)
	case c.RopeBase != RopeBase:
		return fmt.Errorf("llama2c: RoPE base %g; llama2.c hard-codes %d", c.RopeBase, RopeBase)
	case float32(c.NormEps) != float32(NormEps):
		return fmt.Errorf("llama2c: RMSNorm epsilon %g; llama2.c hard-codes 1e-5", c.NormEps)
	case !c.Gated || c.QKVBias || c.OutBias:
		return errors.New("llama2c: llama2.c needs a gated (SwiGLU) MLP and no biases (q/k/v, or Wo and Wdown's from FLAP)")
	case c.CtxLen <= 0:
		return errors.New("llama2c: the model has no context length (seq_len)")
	case c.Vocab > 1<<31-1 || c.Dim > 1<<16 || c.CtxLen > 1<<22:
		return errors.New("llama2c: the model is too large for the header's int32 fields")
	}
	return nil
}

// Save writes m as a legacy llama2.c model.bin, atomically. Weights are
// written as float32 (quantized matrices are dequantized).
func Save(m *model.Model, path string) error {
	if err := Check(m); err != nil {
		return err
	}
	return gguf.WriteFileAtomic(path, func(w io.Writer) error { return Encode(w, m) })
}

// Encode writes m in the legacy llama2.c format.
func Encode(w io.Writer, m *model.Model) error {
	if err := Check(m); err != nil {
		return err
	}
	c := &m.Config
	bw := bufio.NewWriterSize(w, 1<<20)
	vocab := int32(c.Vocab)
	if !c.Tied {
		vocab = -vocab
	}
	for _, v := range []int32{int32(c.Dim), int32(c.FFN[0]), int32(c.Layers), int32(c.Heads[0]), int32(c.KVHeads[0]), vocab, int32(c.CtxLen)} {
		binary.Write(bw, binary.LittleEndian, v)
	}
	var buf []byte
	put := func(v []float32) {
		buf = buf[:0]
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		bw.Write(buf)
	}
	mat := func(x *tensor.Matrix) { put(x.Float32()) }
	mat(m.Embed)
	each := func(f func(L *model.Layer)) {
		for l := range m.Blocks {
			f(&m.Blocks[l])
		}
	}
	each(func(L *model.Layer) { put(L.AttnNorm) })
	each(func(L *model.Layer) { mat(L.Wq) })
	each(func(L *model.Layer) { mat(L.Wk) })
	each(func(L *model.Layer) { mat(L.Wv) })
	each(func(L *model.Layer) { mat(L.Wo) })
	each(func(L *model.Layer) { put(L.FFNNorm) })
	each(func(L *model.Layer) { mat(L.Wgate) })
	each(func(L *model.Layer) { mat(L.Wdown) })
	each(func(L *model.Layer) { mat(L.Wup) })
	put(m.OutNorm)
	// freq_cis as llama2.c's model.py precomputes them: cos and sin of
	// pos · base^(-2i/head_size).
	half := c.HeadDim / 2
	re, im := make([]float32, c.CtxLen*half), make([]float32, c.CtxLen*half)
	for p := range c.CtxLen {
		for i := range half {
			theta := float64(p) * float64(float32(1/math.Pow(RopeBase, float64(2*i)/float64(c.HeadDim))))
			re[p*half+i], im[p*half+i] = float32(math.Cos(theta)), float32(math.Sin(theta))
		}
	}
	put(re)
	put(im)
	if !c.Tied {
		mat(m.Output)
	}
	return bw.Flush()
}
