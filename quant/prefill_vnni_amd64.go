//go:build amd64 && !noasm

package quant

import (
	"sync"

	"golang.org/x/sys/cpu"
)

// useVNNI selects the AVX-512 VNNI prefill kernel (prefill_vnni_amd64.s)
// for products of four or more activation rows. Its bits are the AVX2
// kernels' and the portable code's.
var useVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

//go:noescape
func qdot4x4VNNI(panel *byte, dw *float32, x *byte, xstride, nb int, xoff *int32, out *float32, ldo int)

// quadPanel is the packed form of four weight rows: codes holds, per
// block, the four rows' 32 codes as unsigned bytes (w + off), dw their
// four scales.
type quadPanel struct {
	codes []byte
	dw    []float32
}

var quadPanels = sync.Pool{New: func() any { return new(quadPanel) }}

// vnniOffsets are the off·Σx buffers of the running products.
var vnniOffsets = sync.Pool{New: func() any { return new([]int32) }}

// prepareVNNI sets t.xoff to off·Σx per activation row (of the first
// n&^3) and block, once per product, when the VNNI kernel will run.
func (t *mmTask) prepareVNNI() {
	if !useVNNI || !useAsm || t.n < 4 {
		return
	}
	off := int32(8)
	if t.format == formatQ8_0 {
		off = 0x80
	}
	buf := vnniOffsets.Get().(*[]int32)
	n4 := t.n &^ 3
	if cap(*buf) < n4*t.nb {
		*buf = make([]int32, n4*t.nb)
	}
	t.xoffBuf = buf
	t.xoff = (*buf)[:n4*t.nb]
	for i := range n4 {
		for b := range t.nb {
			var s int32
			for _, v := range t.xq[i*t.xrb+b*Q8_0BlockBytes+2:][:BlockSize] {
				s += int32(int8(v))
			}
			t.xoff[i*t.nb+b] = off * s
		}
	}
}

// releaseVNNI returns prepareVNNI's buffer.
func (t *mmTask) releaseVNNI() {
	if t.xoffBuf != nil {
		vnniOffsets.Put(t.xoffBuf)
	}
}

// packQuad packs rows r..r+3 of t.w into p (codes offset by 128 for Q8_0,
// by 8 for Q4_0).
func (t *mmTask) packQuad(p *quadPanel, r int) {
	nb := t.nb
	if cap(p.codes) < nb*4*BlockSize {
		p.codes, p.dw = make([]byte, nb*4*BlockSize), make([]float32, nb*4)
	}
	codes, dw := p.codes[:nb*4*BlockSize], p.dw[:nb*4]
	for j := range 4 {
		row := t.w[(r+j)*t.rb:][:t.rb]
		for b := range nb {
			dst := codes[(b*4+j)*BlockSize:][:BlockSize]
			if t.format == formatQ8_0 {
				blk := row[b*Q8_0BlockBytes:][:Q8_0BlockBytes]
				dw[b*4+j] = half(blk)
				for k, v := range blk[2:] {
					dst[k] = v ^ 0x80
				}
			} else {
				blk := row[b*Q4_0BlockBytes:][:Q4_0BlockBytes]
				dw[b*4+j] = half(blk)
				for k, v := range blk[2:] {
					dst[k], dst[k+BlockSize/2] = v&0xF, v>>4
				}
			}
		}
	}
}

// runVNNI computes weight rows [r0, r1) (r1-r0 a multiple of 4) for every
// activation row with the VNNI kernel, four by four; the last n%4
// activation rows go to the AVX2 kernels. It reports false, doing
// nothing, where the kernel does not apply.
func (t *mmTask) runVNNI(r0, r1 int) bool {
	if !useVNNI || !useAsm || t.n < 4 {
		return false
	}
	p := quadPanels.Get().(*quadPanel)
	n4 := t.n &^ 3
	for r := r0; r+4 <= r1; r += 4 {
		t.packQuad(p, r)
		for i := 0; i < n4; i += 4 {
			o := t.out[i*t.rows+r:]
			_ = o[3*t.rows+3]
			x := t.xq[i*t.xrb:]
			_ = x[3*t.xrb+t.nb*Q8_0BlockBytes-1]
			qdot4x4VNNI(&p.codes[0], &p.dw[0], &x[0], t.xrb, t.nb, &t.xoff[i*t.nb], &o[0], t.rows)
		}
		w := t.w[r*t.rb : (r+4)*t.rb]
		for i := n4; i < t.n; i++ {
			out := t.out[i*t.rows+r : i*t.rows+r+4]
			xq := t.xq[i*t.xrb : (i+1)*t.xrb]
			if t.format == formatQ8_0 {
				rowsQ8_0(out, w, t.rb, xq, t.nb)
			} else {
				rowsQ4_0(out, w, t.rb, xq, t.nb)
			}
		}
	}
	quadPanels.Put(p)
	return true
}
