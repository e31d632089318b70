package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/llamacpp"
	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// gqaModel is a random GQA model (4 query heads on 2 KV heads, an MLP of
// 24 channels, 2 layers) with random calibration sequences of uneven length.
func gqaModel(t *testing.T) (*model.Model, []train.Example) {
	t.Helper()
	c := model.UniformConfig(16, 24, 2, 4, 2, 30, 32)
	m, err := model.NewRandom(c, tensor.F32, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	var calib []train.Example
	for i := 0; i < 5; i++ {
		ex := train.Example{}
		for j := 0; j < 7+3*i; j++ {
			ex.Tokens = append(ex.Tokens, rng.IntN(c.Vocab))
			ex.Targets = append(ex.Targets, rng.IntN(c.Vocab))
		}
		calib = append(calib, ex)
	}
	return m, calib
}

// observedRows keeps every row the forward pass shows at Wo's and
// Wdown's inputs, in float64: [layer][0: Wo, 1: Wdown][token][channel].
func observedRows(t *testing.T, m *model.Model, calib []train.Example) [][2][][]float64 {
	out := make([][2][][]float64, m.Layers)
	s := m.NewState(64, 64)
	s.Observe = func(at model.Point, l int, rows []float32, n, width int) {
		if at == model.ResidualIn {
			return
		}
		k := 0
		if at == model.WdownInput {
			k = 1
		}
		for i := 0; i < n; i++ {
			r := make([]float64, width)
			for j := range r {
				r[j] = float64(rows[i*width+j])
			}
			out[l][k] = append(out[l][k], r)
		}
	}
	for _, ex := range calib {
		s.Reset()
		if _, err := s.Forward(ex.Tokens, false); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// twoPass is the textbook mean, sample variance and sum of squares of
// each channel.
func twoPass(rows [][]float64) (mean, variance, sumSq []float64) {
	w := len(rows[0])
	mean, variance, sumSq = make([]float64, w), make([]float64, w), make([]float64, w)
	for _, r := range rows {
		for j, v := range r {
			mean[j] += v / float64(len(rows))
			sumSq[j] += v * v
		}
	}
	for _, r := range rows {
		for j, v := range r {
			variance[j] += (v - mean[j]) * (v - mean[j]) / float64(len(rows)-1)
		}
	}
	return mean, variance, sumSq
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestCollectActivations: the running statistics equal the two-pass ones
// of every observed row.
func TestCollectActivations(t *testing.T) {
	m, calib := gqaModel(t)
	st, err := CollectActivations(m, calib)
	if err != nil {
		t.Fatal(err)
	}
	rows := observedRows(t, m, calib)
	tokens := 0
	for _, ex := range calib {
		tokens += len(ex.Tokens)
	}
	for l := 0; l < m.Layers; l++ {
		for k, s := range []*ChannelStats{st.Wo[l], st.Wdown[l]} {
			if s.N != tokens || len(rows[l][k]) != tokens {
				t.Fatalf("layer %d module %d: %d tokens counted, %d observed, %d in the data", l, k, s.N, len(rows[l][k]), tokens)
			}
			mean, variance, sumSq := twoPass(rows[l][k])
			v := s.Var()
			for j := range mean {
				if !close(s.Mean[j], mean[j], 1e-12) || !close(v[j], variance[j], 1e-10) || !close(s.SumSq[j], sumSq[j], 1e-12) {
					t.Fatalf("layer %d module %d channel %d: mean %g var %g ‖x‖² %g, reference %g %g %g", l, k, j, s.Mean[j], v[j], s.SumSq[j], mean[j], variance[j], sumSq[j])
				}
			}
		}
	}
	// A large offset, where a one-pass Σx² − n·mean² loses every digit.
	s := newChannelStats(1)
	scratch := make([]float64, 2)
	for i := 0; i < 100; i++ {
		s.add([]float32{1e4 + float32(i%2)}, 1, 1, scratch[:1], scratch[1:])
	}
	if v := s.Var()[0]; !close(v, 0.25*100/99, 1e-9) {
		t.Errorf("variance of 1e4 ± 0.5: %v, want %v", v, 0.25*100/99)
	}
}

// channelsByLayout lists a group's Wo or Wdown input channels from the
// model's layout (its KV head's query heads, or its MLP row), not from
// the graph's consumer slices.
func channelsByLayout(t *testing.T, m *model.Model, gr *graph.Group) []int {
	for _, p := range gr.Producers {
		_, base, suffix, _ := model.SplitName(p.Tensor)
		if suffix != "weight" {
			continue
		}
		switch {
		case gr.Kind == "attention" && base == "attn_k":
			kv := p.Ranges[0].Lo / m.HeadDim
			var out []int
			per := m.Heads[gr.Layer] / m.KVHeads[gr.Layer]
			for h := kv * per; h < (kv+1)*per; h++ {
				for e := 0; e < m.HeadDim; e++ {
					out = append(out, h*m.HeadDim+e)
				}
			}
			return out
		case gr.Kind == "mlp" && base == "ffn_up":
			return []int{p.Ranges[0].Lo}
		}
	}
	t.Fatalf("group %d (%s) has no attn_k or ffn_up rows", gr.ID, gr.Kind)
	return nil
}

func colOf(w *tensor.Matrix, j int) []float64 {
	f := w.Float32()
	out := make([]float64, w.Rows)
	for i := range out {
		out[i] = float64(f[i*w.Cols+j])
	}
	return out
}

// TestActivationScores: Wanda-sp's and FLAP's group scores against
// float64 references from the observed rows, on GQA groups of two query
// heads each.
func TestActivationScores(t *testing.T) {
	m, calib := gqaModel(t)
	g := graph.Build(m, graph.Options{})
	st, err := CollectActivations(m, calib)
	if err != nil {
		t.Fatal(err)
	}
	rows := observedRows(t, m, calib)
	wanda := WandaSPScores(m, g, st, -1)
	flap := FLAPScores(m, g, st)
	// Reference FLAP: per layer and module, Var·‖W_:,j‖² (squared for
	// Wo), standardised with the sample std, averaged over the group.
	standard := make([][2][]float64, m.Layers)
	for l := range standard {
		for k, w := range []*tensor.Matrix{m.Blocks[l].Wo, m.Blocks[l].Wdown} {
			_, variance, _ := twoPass(rows[l][k])
			s := make([]float64, w.Cols)
			var mean float64
			for j := range s {
				var sq float64
				for _, v := range colOf(w, j) {
					sq += v * v
				}
				s[j] = variance[j] * sq
				if k == 0 {
					s[j] *= s[j]
				}
				mean += s[j] / float64(len(s))
			}
			var ss float64
			for _, v := range s {
				ss += (v - mean) * (v - mean)
			}
			std := math.Sqrt(ss / float64(len(s)-1))
			for j := range s {
				s[j] = (s[j] - mean) / std
			}
			standard[l][k] = s
		}
	}
	n := 0
	for _, gr := range g.Groups {
		if !gr.Prunable {
			continue
		}
		k, w := 0, m.Blocks[gr.Layer].Wo
		if gr.Kind == "mlp" {
			k, w = 1, m.Blocks[gr.Layer].Wdown
		}
		_, _, sumSq := twoPass(rows[gr.Layer][k])
		var wantWanda, wantFLAP float64
		channels := channelsByLayout(t, m, &gr)
		for _, j := range channels {
			var abs float64
			for _, v := range colOf(w, j) {
				abs += math.Abs(v)
			}
			wantWanda += abs * math.Sqrt(sumSq[j])
			wantFLAP += standard[gr.Layer][k][j] / float64(len(channels))
		}
		if !close(wanda[gr.ID], wantWanda, 1e-9) || !close(flap[gr.ID], wantFLAP, 1e-9) {
			t.Errorf("group %d (%s, layer %d): wanda-sp %g flap %g, reference %g %g", gr.ID, gr.Kind, gr.Layer, wanda[gr.ID], flap[gr.ID], wantWanda, wantFLAP)
		}
		n++
	}
	if n != m.Layers*(m.KVHeads[0]+m.FFN[0]) {
		t.Errorf("%d groups scored", n)
	}
}

// TestFLAPCompensation: with FLAP's bias, the compressed layer's mean
// output over the calibration tokens (the dense model's Wo and Wdown
// inputs, restricted to the channels kept) equals the dense layer's mean
// output, to float32 tolerance.
func TestFLAPCompensation(t *testing.T) {
	m, calib := gqaModel(t)
	dense := m.Clone()
	g := graph.Build(m, graph.Options{})
	rows := observedRows(t, dense, calib)
	opt := DefaultOptions()
	opt.Method, opt.Target = "flap", 0.25
	groups, err := FLAP(m, g, calib, opt, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	cm, _, err := Compress(m, nil, g, groups)
	if err != nil {
		t.Fatal(err)
	}
	removed := map[[2]int]bool{} // layer, channel (Wo: 0..qd, Wdown: qd+..)
	for _, gr := range groups {
		off := 0
		if gr.Kind == "mlp" {
			off = 1 << 20
		}
		for _, j := range channelsByLayout(t, dense, &gr) {
			removed[[2]int{gr.Layer, off + j}] = true
		}
	}
	checked := 0
	for l := 0; l < m.Layers; l++ {
		for k, pair := range [][2]*tensor.Matrix{{dense.Blocks[l].Wo, cm.Blocks[l].Wo}, {dense.Blocks[l].Wdown, cm.Blocks[l].Wdown}} {
			b := cm.Blocks[l].Bo
			off := 0
			if k == 1 {
				b, off = cm.Blocks[l].Bdown, 1<<20
			}
			if pair[1] == nil {
				continue
			}
			var kept []int
			for j := 0; j < pair[0].Cols; j++ {
				if !removed[[2]int{l, off + j}] {
					kept = append(kept, j)
				}
			}
			if len(kept) != pair[1].Cols {
				t.Fatalf("layer %d module %d: %d columns kept, the compressed matrix has %d", l, k, len(kept), pair[1].Cols)
			}
			if len(kept) < pair[0].Cols {
				checked++
			}
			wd, wc := pair[0].Float32(), pair[1].Float32()
			for i := 0; i < pair[0].Rows; i++ {
				var want, got float64
				for _, x := range rows[l][k] {
					for j, v := range x {
						want += float64(wd[i*pair[0].Cols+j]) * v
					}
					for c, j := range kept {
						got += float64(wc[i*pair[1].Cols+c]) * x[j]
					}
					got += float64(b[i])
				}
				n := float64(len(rows[l][k]))
				if !close(got/n, want/n, 1e-5) {
					t.Fatalf("layer %d module %d row %d: compensated mean output %g, dense %g", l, k, i, got/n, want/n)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("FLAP removed nothing")
	}
}

// TestActivationBaselinesHitTarget: on stories260K at 20%, both methods
// remove the target's parameters to within one group (FLAP's biases
// counted), FLAP adapting widths per layer and Wanda-sp keeping them
// uniform.
func TestActivationBaselinesHitTarget(t *testing.T) {
	m0 := stories(t)
	ex, err := train.LoadText(m0.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for _, gr := range graph.Build(m0, graph.Options{}).Groups {
		if gr.Prunable {
			largest = max(largest, gr.Params)
		}
	}
	for _, method := range []string{"flap", "wanda-sp"} {
		opt := DefaultOptions()
		opt.Method = method
		cm, rep, err := Prune(context.Background(), m0.Clone(), opt, Data{Calib: ex[:16]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.8 * float64(rep.ParamsBefore)
		if d := math.Abs(float64(rep.ParamsAfter) - want); d > float64(largest) {
			t.Errorf("%s: %d parameters left, want %.0f ± %d", method, rep.ParamsAfter, want, largest)
		}
		if method == "wanda-sp" && !cm.Uniform() {
			t.Errorf("wanda-sp: widths differ across layers: heads %v ffn %v", rep.Heads, rep.FFN)
		}
		if cm.OutBias != (method == "flap") {
			t.Errorf("%s: output biases %v", method, cm.OutBias)
		}
		t.Logf("%s: heads %v ffn %v, %d → %d parameters", method, rep.Heads, rep.FFN, rep.ParamsBefore, rep.ParamsAfter)
	}
	bad := DefaultOptions()
	bad.Method, bad.Hidden = "flap", true
	if _, _, err := Prune(context.Background(), m0.Clone(), bad, Data{Calib: ex[:4]}, nil); err == nil || !strings.Contains(err.Error(), "--hidden") {
		t.Errorf("flap with --hidden: %v", err)
	}
}

// TestFLAPRunsInLlamaCpp: a FLAP-pruned stories260K (output biases,
// per-layer widths: arch deci) written by Shear decodes greedily to
// llama-cli's tokens and has llama-perplexity's perplexity under that
// tool's protocol. Skipped without ../shared/tools/llama.cpp/bin.
func TestFLAPRunsInLlamaCpp(t *testing.T) {
	bin := sharedPath(t, "tools/llama.cpp/bin")
	ppl, cli := filepath.Join(bin, "llama-perplexity"), filepath.Join(bin, "llama-cli")
	for _, p := range []string{ppl, cli} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: %v", p, err)
		}
	}
	m0 := stories(t)
	ex, err := train.LoadText(m0.Tok, sharedPath(t, "data/tinystories-dev.txt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions()
	opt.Method = "flap"
	cm, _, err := Prune(context.Background(), m0, opt, Data{Calib: ex[:16]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "flap.gguf")
	if err := cm.Save(path); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(path, model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	if !m.OutBias || m.Uniform() {
		t.Fatalf("read back: output biases %v, uniform widths %v", m.OutBias, m.Uniform())
	}

	llamacpp.Check(t, m, cli, ppl, path, sharedPath(t, "data/tinystories-dev.txt"), 40, 128)
}
