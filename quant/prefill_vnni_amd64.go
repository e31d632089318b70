//go:build amd64 && !noasm

package quant

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/cpu"
)

// useVNNI selects the AVX-512 VNNI prefill kernels (prefill_vnni_amd64.s)
// for products of several activation rows. Their bits are the AVX2
// kernels' and the portable code's.
var useVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI

//go:noescape
func qdot16x4VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xneg *int32, dx *float32, out *float32, ldo int)

//go:noescape
func qdot16x1VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xneg *int32, dx *float32, out *float32, ldo int)

// vnniRows is the weight rows of one panel, one per lane.
const vnniRows = 16

// vnniPanel is the packed form of sixteen weight rows (see the assembly):
// codes, per block, eight groups of the rows' codes 4k..4k+3 as unsigned
// bytes; dw the rows' scales per block.
type vnniPanel struct {
	codes []byte
	dw    []float32
}

var vnniPanels = sync.Pool{New: func() any { return new(vnniPanel) }}

// vnniActs is the activation side, once per product: -off·Σx and the
// scale of every activation block, [row*nb+block].
type vnniActs struct {
	xneg []int32
	dx   []float32
}

var vnniActsPool = sync.Pool{New: func() any { return new(vnniActs) }}

// vnniUnit is the weight rows per index of the product's ParallelFor: a
// panel when the VNNI kernels run, else the four rows of the AVX2 kernels.
func vnniUnit(n int) int {
	if useVNNI && useAsm && n > 1 {
		return vnniRows
	}
	return 4
}

// prepareVNNI fills t.acts once per product when the VNNI kernels run.
func (t *mmTask) prepareVNNI() {
	if t.unit != vnniRows {
		return
	}
	off := int32(8)
	if t.format == formatQ8_0 {
		off = 0x80
	}
	a := vnniActsPool.Get().(*vnniActs)
	if cap(a.xneg) < t.n*t.nb {
		a.xneg, a.dx = make([]int32, t.n*t.nb), make([]float32, t.n*t.nb)
	}
	a.xneg, a.dx = a.xneg[:t.n*t.nb], a.dx[:t.n*t.nb]
	for i := range t.n {
		for b := range t.nb {
			blk := t.xq[i*t.xrb+b*Q8_0BlockBytes:][:Q8_0BlockBytes]
			var s int32
			for _, v := range blk[2:] {
				s += int32(int8(v))
			}
			a.xneg[i*t.nb+b] = -off * s
			a.dx[i*t.nb+b] = half(blk)
		}
	}
	t.acts = a
}

// releaseVNNI returns prepareVNNI's buffers.
func (t *mmTask) releaseVNNI() {
	if t.acts != nil {
		vnniActsPool.Put(t.acts)
	}
}

// packPanel16 packs rows r..r+15 of t.w into p.
func (t *mmTask) packPanel16(p *vnniPanel, r int) {
	nb := t.nb
	if cap(p.codes) < nb*vnniRows*BlockSize {
		p.codes, p.dw = make([]byte, nb*vnniRows*BlockSize), make([]float32, nb*vnniRows)
	}
	codes, dw := p.codes[:nb*vnniRows*BlockSize], p.dw[:nb*vnniRows]
	le := binary.LittleEndian
	for j := range vnniRows {
		row := t.w[(r+j)*t.rb:][:t.rb]
		for b := range nb {
			dst := codes[b*vnniRows*BlockSize+4*j:]
			if t.format == formatQ8_0 {
				blk := row[b*Q8_0BlockBytes:][:Q8_0BlockBytes]
				dw[b*vnniRows+j] = half(blk)
				for k := range 8 {
					le.PutUint32(dst[64*k:], le.Uint32(blk[2+4*k:])^0x80808080)
				}
			} else {
				blk := row[b*Q4_0BlockBytes:][:Q4_0BlockBytes]
				dw[b*vnniRows+j] = half(blk)
				for k := range 4 {
					q := le.Uint32(blk[2+4*k:])
					le.PutUint32(dst[64*k:], q&0x0F0F0F0F)
					le.PutUint32(dst[64*(k+4):], q>>4&0x0F0F0F0F)
				}
			}
		}
	}
}

// runVNNI computes the whole panels of weight rows [r0, r1) for every
// activation row with the VNNI kernels and returns the first row it did
// not compute (r0 when they do not run).
func (t *mmTask) runVNNI(r0, r1 int) int {
	if t.acts == nil {
		return r0
	}
	p := vnniPanels.Get().(*vnniPanel)
	a := t.acts
	nb, n4 := t.nb, t.n&^3
	r := r0
	for ; r+vnniRows <= r1; r += vnniRows {
		t.packPanel16(p, r)
		_ = t.xq[(t.n-1)*t.xrb+nb*Q8_0BlockBytes-1]
		for i := 0; i < t.n; {
			o := t.out[i*t.rows+r:]
			x := t.xq[i*t.xrb:]
			if i < n4 {
				_ = o[3*t.rows+vnniRows-1]
				qdot16x4VNNI(&p.codes[0], &p.dw[0], &x[0], t.xrb, nb, &a.xneg[i*nb], &a.dx[i*nb], &o[0], t.rows)
				i += 4
				continue
			}
			_ = o[vnniRows-1]
			qdot16x1VNNI(&p.codes[0], &p.dw[0], &x[0], t.xrb, nb, &a.xneg[i*nb], &a.dx[i*nb], &o[0], t.rows)
			i++
		}
	}
	vnniPanels.Put(p)
	return r
}
