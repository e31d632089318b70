package prune

import (
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/shear-ai/shear/prune/graph"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// groupView gives direct access to a group's producer entries in a model
// held in float32 or float16 (the frozen base keeps its storage type: no
// float32 copy of it is made), and to the matching LoRA B rows. x_g — the
// group's merged producer rows [W + s·B·A]_g — is read and written
// through it; writes to f16 storage round to the nearest half.
type groupView struct {
	base  []span    // producer entries of base tensors
	loraB []loraRow // LoRA B rows of producer matrices
	size  int       // number of entries of x_g
}

// span is one producer row (or column) of a base tensor, stored in data
// (float32) or half (float16).
type span struct {
	data   []float32
	half   []uint16
	start  int // first element
	stride int // distance between elements (1 for a row)
	n      int
	mod    *lora.Module // adapter of this matrix (rows only), may be nil
	row    int          // row index in mod.B
}

type loraRow struct {
	mod *lora.Module
	row int
}

func (s span) get(i int) float32 {
	if s.half != nil {
		return float16.Frombits(s.half[s.start+i*s.stride]).Float32()
	}
	return s.data[s.start+i*s.stride]
}

func (s span) set(i int, v float32) {
	if s.half != nil {
		s.half[s.start+i*s.stride] = float16.Fromfloat32(v).Bits()
		return
	}
	s.data[s.start+i*s.stride] = v
}

// newGroupView resolves a group's producer slices in m (whose matrices
// must be float32 or float16) and ad.
func newGroupView(m *model.Model, ad *lora.Adapter, gr *graph.Group) (*groupView, error) {
	v := &groupView{}
	for _, s := range gr.Producers {
		if graph.IsLoRA(s.Tensor) {
			continue // B rows are reached through their base matrix
		}
		r, err := lookup(m, ad, s.Tensor)
		if err != nil {
			return nil, err
		}
		if r.vec != nil {
			for _, i := range s.Indices() {
				v.base = append(v.base, span{data: *r.vec, start: i, stride: 1, n: 1})
				v.size++
			}
			continue
		}
		w := *r.mat
		if w.DType != tensor.F32 && w.DType != tensor.F16 {
			return nil, fmt.Errorf("prune: %s must be f32 or f16 while pruning (is %s; load with --dtype f16)", s.Tensor, w.DType)
		}
		var mod *lora.Module
		if l, base, _, err := model.SplitName(s.Tensor); err == nil {
			mod = loraModule(ad, l, base)
		}
		for _, i := range s.Indices() {
			if s.Axis == 0 {
				v.base = append(v.base, span{data: w.F32, half: w.F16, start: i * w.Cols, stride: 1, n: w.Cols, mod: mod, row: i})
				v.size += w.Cols
				if mod != nil {
					v.loraB = append(v.loraB, loraRow{mod, i})
				}
			} else {
				v.base = append(v.base, span{data: w.F32, half: w.F16, start: i, stride: w.Cols, n: w.Rows})
				v.size += w.Rows
			}
		}
	}
	return v, nil
}

// merged writes x_g (base + s·B·A for rows with an adapter) into x, and the
// LoRA part alone into delta when delta is not nil.
func (v *groupView) merged(x, delta []float32) {
	k := 0
	for _, s := range v.base {
		for i := 0; i < s.n; i++ {
			x[k+i] = s.get(i)
		}
		if delta != nil {
			clear(delta[k : k+s.n])
		}
		if s.mod != nil {
			b := s.mod.B[s.row*s.mod.Rank : (s.row+1)*s.mod.Rank]
			for r, bv := range b {
				c := s.mod.Scale * bv
				if c == 0 {
					continue
				}
				a := s.mod.A[r*s.mod.In : (r+1)*s.mod.In]
				for i, av := range a {
					x[k+i] += c * av
					if delta != nil {
						delta[k+i] += c * av
					}
				}
			}
		}
		k += s.n
	}
}

// bSize is the number of LoRA B entries of the group (its trainable part).
func (v *groupView) bSize() int {
	n := 0
	for _, r := range v.loraB {
		n += r.mod.Rank
	}
	return n
}

// readB copies the group's B rows into y (bSize entries).
func (v *groupView) readB(y []float32) {
	k := 0
	for _, r := range v.loraB {
		k += copy(y[k:], r.mod.B[r.row*r.mod.Rank:(r.row+1)*r.mod.Rank])
	}
}

// writeB sets the group's B rows from y; x_g moves by s·ΔB·A, W_g is untouched.
func (v *groupView) writeB(y []float32) {
	k := 0
	for _, r := range v.loraB {
		k += copy(r.mod.B[r.row*r.mod.Rank:(r.row+1)*r.mod.Rank], y[k:])
	}
}

// zeroB sets the group's B rows to exactly zero (x_g becomes W_g).
func (v *groupView) zeroB() {
	for _, r := range v.loraB {
		clear(r.mod.B[r.row*r.mod.Rank : (r.row+1)*r.mod.Rank])
	}
}

// scale multiplies x_g by f, through the base entries and the B rows.
func (v *groupView) scale(f float32) {
	for _, s := range v.base {
		for i := 0; i < s.n; i++ {
			s.set(i, s.get(i)*f)
		}
	}
	for _, r := range v.loraB {
		b := r.mod.B[r.row*r.mod.Rank : (r.row+1)*r.mod.Rank]
		for i := range b {
			b[i] *= f
		}
	}
}

// zero sets x_g to exactly zero.
func (v *groupView) zero() { v.scale(0) }

// save and restore copy the base entries and B rows (for probes).
func (v *groupView) save() []float32 {
	var out []float32
	for _, s := range v.base {
		for i := 0; i < s.n; i++ {
			out = append(out, s.get(i))
		}
	}
	for _, r := range v.loraB {
		out = append(out, r.mod.B[r.row*r.mod.Rank:(r.row+1)*r.mod.Rank]...)
	}
	return out
}

func (v *groupView) restore(saved []float32) {
	k := 0
	for _, s := range v.base {
		for i := 0; i < s.n; i++ {
			s.set(i, saved[k])
			k++
		}
	}
	for _, r := range v.loraB {
		k += copy(r.mod.B[r.row*r.mod.Rank:(r.row+1)*r.mod.Rank], saved[k:])
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

func dotf(x, y []float32) float64 {
	var s float64
	for i := range x {
		s += float64(x[i]) * float64(y[i])
	}
	return s
}
