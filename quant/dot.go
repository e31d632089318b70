package quant

import "fmt"

// DotQ8_0 is the dot product of nBlocks Q8_0 blocks of w with nBlocks Q8_0
// blocks of xq, as ggml_vec_dot_q8_0_q8_0: per block the int8 products are
// summed exactly in int32, then scaled by d_w·d_x; see the package doc for
// the float32 order.
func DotQ8_0(w []byte, xq []byte, nBlocks int) float32 {
	w = w[:nBlocks*Q8_0BlockBytes]
	xq = xq[:nBlocks*Q8_0BlockBytes]
	if nBlocks == 0 {
		return 0
	}
	return dotQ8_0(w, xq, nBlocks)
}

// DotQ4_0 is the dot product of nBlocks Q4_0 blocks of w with nBlocks Q8_0
// blocks of xq, as ggml_vec_dot_q4_0_q8_0.
func DotQ4_0(w []byte, xq []byte, nBlocks int) float32 {
	w = w[:nBlocks*Q4_0BlockBytes]
	xq = xq[:nBlocks*Q8_0BlockBytes]
	if nBlocks == 0 {
		return 0
	}
	return dotQ4_0(w, xq, nBlocks)
}

// dotQ8_0Generic is the portable Q8_0·Q8_0 kernel and the reference the
// assembly must match bit for bit.
func dotQ8_0Generic(w, x []byte, nb int) float32 {
	var sum float32
	for b := range nb {
		wb := (*[Q8_0BlockBytes]byte)(w[b*Q8_0BlockBytes:])
		xb := (*[Q8_0BlockBytes]byte)(x[b*Q8_0BlockBytes:])
		s := dotI8((*[BlockSize]byte)(wb[2:]), (*[BlockSize]byte)(xb[2:]))
		d := half(wb[:]) * half(xb[:]) // exact: two 11-bit significands
		// The conversion keeps the product rounded on its own: no FMA, as
		// the assembly does it, on every architecture.
		sum += float32(float32(s) * d)
	}
	return sum
}

// dotQ4_0Generic is the portable Q4_0·Q8_0 kernel.
func dotQ4_0Generic(w, x []byte, nb int) float32 {
	var sum float32
	for b := range nb {
		wb := (*[Q4_0BlockBytes]byte)(w[b*Q4_0BlockBytes:])
		xb := (*[Q8_0BlockBytes]byte)(x[b*Q8_0BlockBytes:])
		s := dotI4I8((*[BlockSize / 2]byte)(wb[2:]), (*[BlockSize]byte)(xb[2:]))
		d := half(wb[:]) * half(xb[:])
		sum += float32(float32(s) * d)
	}
	return sum
}

// dotI8 is the int8 dot product of one block's codes. Integer sums are
// exact, so the four partial sums change nothing but the speed.
func dotI8(w, x *[BlockSize]byte) int32 {
	var s0, s1, s2, s3 int32
	for j := 0; j < BlockSize; j += 4 {
		s0 += int32(int8(w[j])) * int32(int8(x[j]))
		s1 += int32(int8(w[j+1])) * int32(int8(x[j+1]))
		s2 += int32(int8(w[j+2])) * int32(int8(x[j+2]))
		s3 += int32(int8(w[j+3])) * int32(int8(x[j+3]))
	}
	return s0 + s1 + s2 + s3
}

// dotI4I8 is the dot product of one block's Q4_0 nibbles, less their bias
// of 8, with its int8 codes: qs[j] holds values j and j+16.
func dotI4I8(qs *[BlockSize / 2]byte, x *[BlockSize]byte) int32 {
	var s0, s1, s2, s3 int32
	for j := 0; j < BlockSize/2; j += 2 {
		q0, q1 := qs[j], qs[j+1]
		s0 += (int32(q0&0xF) - 8) * int32(int8(x[j]))
		s1 += (int32(q0>>4) - 8) * int32(int8(x[j+BlockSize/2]))
		s2 += (int32(q1&0xF) - 8) * int32(int8(x[j+1]))
		s3 += (int32(q1>>4) - 8) * int32(int8(x[j+1+BlockSize/2]))
	}
	return s0 + s1 + s2 + s3
}

func rowsQ8_0Generic(out []float32, w []byte, rb int, xq []byte, nb int) {
	for r := range out {
		out[r] = dotQ8_0Generic(w[r*rb:], xq, nb)
	}
}

func rowsQ4_0Generic(out []float32, w []byte, rb int, xq []byte, nb int) {
	for r := range out {
		out[r] = dotQ4_0Generic(w[r*rb:], xq, nb)
	}
}

func checkLen(what string, have, need int) {
	if have < need {
		panic(fmt.Sprintf("quant: %s has length %d, need %d", what, have, need))
	}
}
