// Package lora holds LoRA adapters for Shear's LLaMA models:
// W' = W + s·B·A with A ∈ R^{r×in}, B ∈ R^{out×r}, s = α/r, on any of the
// seven projections of a block. A starts random (PEFT's Kaiming-uniform),
// B at zero, so a fresh adapter leaves the model unchanged.
package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// Target names one projection of a block.
type Target int

const (
	Q Target = iota
	K
	V
	O
	Gate
	Up
	Down
	NumTargets
)

// kinds maps each target to its row of the model's tensor table, which
// holds the target's names.
var kinds = [NumTargets]model.Kind{model.AttnQ, model.AttnK, model.AttnV, model.AttnOutput,
	model.FFNGate, model.FFNUp, model.FFNDown}

var targetNames = tableNames(func(in *model.KindInfo) string { return in.LoRA })

// PEFTNames are the module paths PEFT uses for each target.
var PEFTNames = tableNames(func(in *model.KindInfo) string { return in.PEFT })

func tableNames(name func(*model.KindInfo) string) (out [NumTargets]string) {
	for t, k := range kinds {
		out[t] = name(k.Info())
	}
	return out
}

func (t Target) String() string { return targetNames[t] }

// Kind is the model tensor kind the target adapts.
func (t Target) Kind() model.Kind { return kinds[t] }

// TargetOf is the target adapting tensor kind k, if any.
func TargetOf(k model.Kind) (Target, bool) {
	for t, tk := range kinds {
		if tk == k {
			return Target(t), true
		}
	}
	return 0, false
}

// Weight returns the layer's matrix for target t (nil when absent).
func (t Target) Weight(L *model.Layer) *tensor.Matrix { return model.LayerMatrix(L, kinds[t]) }

// SetWeight replaces the layer's matrix for target t.
func (t Target) SetWeight(L *model.Layer, w *tensor.Matrix) { model.SetLayerMatrix(L, kinds[t], w) }

// ParseTargets parses a comma-separated list such as "q,k,v,o,gate,up,down".
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	seen := map[Target]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		found := false
		for t, n := range targetNames {
			if n == part || PEFTNames[t] == part || strings.HasSuffix(PEFTNames[t], "."+part) {
				if !seen[Target(t)] {
					out = append(out, Target(t))
					seen[Target(t)] = true
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown LoRA target %q (want q, k, v, o, gate, up, down)", part)
		}
	}
	return out, nil
}

// Config describes an adapter. Defaults (OTO's sanity config): r 8, α 16,
// dropout 0.05, every projection.
type Config struct {
	Rank    int      `json:"rank"`
	Alpha   float32  `json:"alpha"`
	Dropout float32  `json:"dropout"`
	Targets []Target `json:"targets"`
}

// DefaultConfig returns r 8, α 16, dropout 0.05 on all seven projections.
func DefaultConfig() Config {
	return Config{Rank: 8, Alpha: 16, Dropout: 0.05, Targets: []Target{Q, K, V, O, Gate, Up, Down}}
}

// Scale is α/r.
func (c Config) Scale() float32 { return c.Alpha / float32(c.Rank) }

// Validate checks the ranges.
func (c Config) Validate() error {
	switch {
	case c.Rank < 1:
		return fmt.Errorf("LoRA rank %d must be ≥ 1", c.Rank)
	case !(c.Alpha > 0):
		return fmt.Errorf("LoRA alpha %v must be > 0", c.Alpha)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("LoRA dropout %v must be in [0, 1)", c.Dropout)
	case len(c.Targets) == 0:
		return fmt.Errorf("LoRA needs at least one target")
	}
	return nil
}

// Module is the adapter of one matrix.
type Module struct {
	In, Out, Rank int
	Scale         float32
	A             []float32 // [Rank × In]
	B             []float32 // [Out × Rank]
}

// Adapter is a set of modules: Modules[layer][target], nil where absent.
type Adapter struct {
	Config
	Modules [][NumTargets]*Module
}

// New creates a PEFT-initialised adapter for m: A ~ U(−1/√in, 1/√in)
// (Kaiming-uniform with a = √5), B = 0.
func New(m *model.Model, cfg Config, seed uint64) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x10a))
	a := &Adapter{Config: cfg, Modules: make([][NumTargets]*Module, len(m.Blocks))}
	for l := range m.Blocks {
		for _, t := range cfg.Targets {
			w := t.Weight(&m.Blocks[l])
			if w == nil {
				continue
			}
			mod := &Module{In: w.Cols, Out: w.Rows, Rank: cfg.Rank, Scale: cfg.Scale(),
				A: make([]float32, cfg.Rank*w.Cols), B: make([]float32, w.Rows*cfg.Rank)}
			bound := 1 / math.Sqrt(float64(w.Cols))
			for i := range mod.A {
				mod.A[i] = float32((2*rng.Float64() - 1) * bound)
			}
			a.Modules[l][t] = mod
		}
	}
	return a, nil
}

// Delta returns s·B·A as a dense [Out × In] matrix.
func (mod *Module) Delta() []float32 {
	d := make([]float32, mod.Out*mod.In)
	for o := 0; o < mod.Out; o++ {
		row := d[o*mod.In : (o+1)*mod.In]
		for r := 0; r < mod.Rank; r++ {
			b := mod.Scale * mod.B[o*mod.Rank+r]
			if b == 0 {
				continue
			}
			ar := mod.A[r*mod.In : (r+1)*mod.In]
			for i, v := range ar {
				row[i] += b * v
			}
		}
	}
	return d
}

// apply adds sign·s·B·A to every adapted matrix, keeping each matrix's
// storage type.
func (a *Adapter) apply(m *model.Model, sign float32) error {
	if len(a.Modules) != len(m.Blocks) {
		return fmt.Errorf("lora: adapter has %d layers, model %d", len(a.Modules), len(m.Blocks))
	}
	for l := range m.Blocks {
		L := &m.Blocks[l]
		for t, mod := range a.Modules[l] {
			if mod == nil {
				continue
			}
			w := Target(t).Weight(L)
			if w == nil || w.Rows != mod.Out || w.Cols != mod.In {
				return fmt.Errorf("lora: layer %d %s: adapter is %d×%d, the model's matrix is not", l, Target(t), mod.Out, mod.In)
			}
			data := w.Float32()
			for i, d := range mod.Delta() {
				data[i] += sign * d
			}
			// New refuses weights that overflowed (a huge scale or adapter
			// weights) or do not fit the matrix's storage.
			nw, err := tensor.New(w.Rows, w.Cols, data, w.DType)
			if err != nil {
				return fmt.Errorf("lora: layer %d %s: the merged weights: %w", l, Target(t), err)
			}
			if m.Tied && w == m.Embed {
				return fmt.Errorf("lora: cannot merge into a tied embedding")
			}
			Target(t).SetWeight(L, nw)
		}
	}
	return nil
}

// Merge folds the adapter into the model's weights: W ← W + s·B·A.
func (a *Adapter) Merge(m *model.Model) error { return a.apply(m, 1) }

// Unmerge takes a merged adapter back out: W ← W − s·B·A (exact for f32
// storage; rounded again for f16 and quantized storage).
func (a *Adapter) Unmerge(m *model.Model) error { return a.apply(m, -1) }

// Params counts the adapter's trainable parameters.
func (a *Adapter) Params() int {
	n := 0
	for _, mods := range a.Modules {
		for _, mod := range mods {
			if mod != nil {
				n += len(mod.A) + len(mod.B)
			}
		}
	}
	return n
}
