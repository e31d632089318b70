package host

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/shear-ai/shear/quant"
	"github.com/shear-ai/shear/simd"
)

// The module "shear_kernels": the heavy kernels of shear-host.wasm, run
// natively on views of the calling instance's linear memory. Arguments are
// addresses and element counts (all i32); the host checks every range
// against the memory's size, so a wrong address traps the instance (a Go
// error for the caller) and never touches host memory. Views are unsafe
// slices over wazero's buffer, valid for the call only: the guest cannot
// grow its memory while a host function runs.

type kernel struct {
	name   string
	params int // i32 parameters, or
	sig    []api.ValueType
	result api.ValueType // 0: none
	fn     func(mem api.Memory, a []uint64)
}

var (
	i32 = api.ValueTypeI32
	f32 = api.ValueTypeF32
)

func u(a []uint64, i int) int { return int(uint32(a[i])) }

var kernels = []kernel{
	{name: "matvec", params: 5, fn: func(mem api.Memory, a []uint64) {
		rows, cols := u(a, 3), u(a, 4)
		out := f32s(mem, a[0], rows)
		simd.MatVec(out.s, f32s(mem, a[1], rows*cols).s, f32s(mem, a[2], cols).s, rows, cols)
		out.done()
	}},
	{name: "matvec_f16", params: 5, fn: func(mem api.Memory, a []uint64) {
		rows, cols := u(a, 3), u(a, 4)
		out := f32s(mem, a[0], rows)
		simd.MatVecF16(out.s, u16s(mem, a[1], rows*cols).s, f32s(mem, a[2], cols).s, rows, cols)
		out.done()
	}},
	{name: "matmul", params: 6, fn: func(mem api.Memory, a []uint64) {
		n, rows, cols := u(a, 3), u(a, 4), u(a, 5)
		out := f32s(mem, a[0], n*rows)
		simd.MatMul(out.s, f32s(mem, a[1], n*cols).s, f32s(mem, a[2], rows*cols).s, n, rows, cols)
		out.done()
	}},
	{name: "matmul_f16", params: 6, fn: func(mem api.Memory, a []uint64) {
		n, rows, cols := u(a, 3), u(a, 4), u(a, 5)
		out := f32s(mem, a[0], n*rows)
		simd.MatMulF16(out.s, f32s(mem, a[1], n*cols).s, u16s(mem, a[2], rows*cols).s, n, rows, cols)
		out.done()
	}},
	{name: "matmul_back_in", params: 6, fn: func(mem api.Memory, a []uint64) {
		n, rows, cols := u(a, 3), u(a, 4), u(a, 5)
		dx := f32s(mem, a[0], n*cols)
		simd.MatMulBackIn(dx.s, f32s(mem, a[1], n*rows).s, f32s(mem, a[2], rows*cols).s, n, rows, cols)
		dx.done()
	}},
	{name: "matmul_back_in_f16", params: 6, fn: func(mem api.Memory, a []uint64) {
		n, rows, cols := u(a, 3), u(a, 4), u(a, 5)
		dx := f32s(mem, a[0], n*cols)
		simd.MatMulBackInF16(dx.s, f32s(mem, a[1], n*rows).s, u16s(mem, a[2], rows*cols).s, n, rows, cols)
		dx.done()
	}},
	{name: "matmul_back_w", params: 6, fn: func(mem api.Memory, a []uint64) {
		n, rows, cols := u(a, 3), u(a, 4), u(a, 5)
		dw := f32s(mem, a[0], rows*cols)
		simd.MatMulBackW(dw.s, f32s(mem, a[1], n*rows).s, f32s(mem, a[2], n*cols).s, n, rows, cols)
		dw.done()
	}},
	{name: "f16_to_f32", params: 3, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 2)
		dst := f32s(mem, a[0], n)
		simd.F16ToF32(dst.s, u16s(mem, a[1], n).s)
		dst.done()
	}},
	{name: "f32_to_f16", params: 3, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 2)
		dst := u16s(mem, a[0], n)
		simd.F32ToF16(dst.s, f32s(mem, a[1], n).s)
		dst.done()
	}},
	{name: "matmul_q8_0", params: 7, fn: func(mem api.Memory, a []uint64) { quantMatMul(mem, a, false) }},
	{name: "matmul_q4_0", params: 7, fn: func(mem api.Memory, a []uint64) { quantMatMul(mem, a, true) }},

	// The vector kernels with an assembly path, so that the guest's
	// element-wise work (attention, softmax, SwiGLU, residuals) gives the
	// native bits and runs at native speed.
	{name: "dot", params: 3, result: f32, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 2)
		a[0] = api.EncodeF32(simd.Dot(f32s(mem, a[0], n).s, f32s(mem, a[1], n).s))
	}},
	{name: "sum", params: 2, result: f32, fn: func(mem api.Memory, a []uint64) {
		a[0] = api.EncodeF32(simd.Sum(f32s(mem, a[0], u(a, 1)).s))
	}},
	{name: "axpy", sig: []api.ValueType{f32, i32, i32, i32}, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 3)
		y := f32s(mem, a[2], n)
		simd.Axpy(api.DecodeF32(a[0]), f32s(mem, a[1], n).s, y.s)
		y.done()
	}},
	{name: "scale", sig: []api.ValueType{f32, i32, i32}, fn: func(mem api.Memory, a []uint64) {
		x := f32s(mem, a[1], u(a, 2))
		simd.Scale(api.DecodeF32(a[0]), x.s)
		x.done()
	}},
	{name: "add", params: 4, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 3)
		dst := f32s(mem, a[0], n)
		simd.Add(dst.s, f32s(mem, a[1], n).s, f32s(mem, a[2], n).s)
		dst.done()
	}},
	{name: "mul", params: 4, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 3)
		dst := f32s(mem, a[0], n)
		simd.Mul(dst.s, f32s(mem, a[1], n).s, f32s(mem, a[2], n).s)
		dst.done()
	}},
	{name: "silu", params: 3, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 2)
		dst := f32s(mem, a[0], n)
		if a[0] != a[1] {
			copy(dst.s, f32s(mem, a[1], n).s)
		}
		simd.SiLU(dst.s)
		dst.done()
	}},
	{name: "swiglu", params: 4, fn: func(mem api.Memory, a []uint64) {
		n := u(a, 3)
		dst := f32s(mem, a[0], n)
		simd.SwiGLU(dst.s, f32s(mem, a[1], n).s, f32s(mem, a[2], n).s)
		dst.done()
	}},
	{name: "attention", params: 11, fn: func(mem api.Memory, a []uint64) {
		n, pos, heads, kvHeads, headDim, ctx := u(a, 5), u(a, 6), u(a, 7), u(a, 8), u(a, 9), u(a, 10)
		if kvHeads == 0 || headDim == 0 || heads%kvHeads != 0 || ctx < pos+n {
			panic(fmt.Errorf("shear_kernels: attention: bad sizes n=%d pos=%d heads=%d kvHeads=%d headDim=%d ctx=%d", n, pos, heads, kvHeads, headDim, ctx))
		}
		qLen := elems(n, heads, headDim)
		kvLen := elems(pos+n, kvHeads, headDim)
		out := f32s(mem, a[0], qLen)
		simd.Attention(out.s, f32s(mem, a[1], qLen).s, f32s(mem, a[2], kvLen).s, f32s(mem, a[3], kvLen).s,
			f32s(mem, a[4], elems(n, heads, ctx)).s, n, pos, heads, kvHeads, headDim, ctx)
		out.done()
	}},
	{name: "argmax", params: 2, result: i32, fn: func(mem api.Memory, a []uint64) {
		a[0] = uint64(simd.Argmax(f32s(mem, a[0], u(a, 1)).s))
	}},
	{name: "exp_sub", sig: []api.ValueType{i32, i32, f32}, result: api.ValueTypeF64, fn: func(mem api.Memory, a []uint64) {
		x := f32s(mem, a[0], u(a, 1))
		s := simd.ExpSub(x.s, api.DecodeF32(a[2]))
		x.done()
		a[0] = api.EncodeF64(s)
	}},
}

func quantMatMul(mem api.Memory, a []uint64, q4 bool) {
	n, rows, cols := u(a, 4), u(a, 5), u(a, 6)
	if cols%quant.BlockSize != 0 {
		panic(fmt.Errorf("shear_kernels: %d columns are not whole blocks", cols))
	}
	rb := quant.RowBytesQ8_0(cols)
	if q4 {
		rb = quant.RowBytesQ4_0(cols)
	}
	out := f32s(mem, a[0], n*rows)
	x := f32s(mem, a[1], n*cols).s
	w := bytesAt(mem, a[2], rows*rb)
	xq := bytesAt(mem, a[3], n*quant.RowBytesQ8_0(cols))
	if q4 {
		quant.MatMulQ4_0(out.s, x, w, n, rows, cols, xq)
	} else {
		quant.MatMulQ8_0(out.s, x, w, n, rows, cols, xq)
	}
	out.done()
}

// elems is the product of sizes a guest passed, or a panic (trapping the
// instance) when it exceeds what 32-bit memory can hold.
func elems(sizes ...int) int {
	p := 1
	for _, s := range sizes {
		if s != 0 && p > (1<<32)/s {
			panic(fmt.Errorf("shear_kernels: sizes %v out of range", sizes))
		}
		p *= s
	}
	return p
}

// bytesAt is guest memory [ptr, ptr+n); it panics (trapping the instance)
// when the range is outside the memory.
func bytesAt(mem api.Memory, ptr uint64, n int) []byte {
	if n == 0 {
		return nil
	}
	if n < 0 || uint64(n) > uint64(^uint32(0)) {
		panic(fmt.Errorf("shear_kernels: length %d out of range", n))
	}
	b, ok := mem.Read(uint32(ptr), uint32(n))
	if !ok {
		panic(fmt.Errorf("shear_kernels: bytes [%#x, %#x) are outside guest memory (%d bytes)", ptr, ptr+uint64(n), mem.Size()))
	}
	return b
}

// view is a typed view of guest memory: the bytes themselves when they are
// aligned for T, else a copy that done writes back.
type view[T float32 | uint16] struct {
	s    []T
	back []byte
}

func viewAt[T float32 | uint16](mem api.Memory, ptr uint64, n int) view[T] {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n < 0 || n > (1<<32-1)/size {
		panic(fmt.Errorf("shear_kernels: %d elements out of range", n))
	}
	b := bytesAt(mem, ptr, n*size)
	if n == 0 {
		return view[T]{}
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%uintptr(size) == 0 {
		return view[T]{s: unsafe.Slice((*T)(p), n)}
	}
	v := view[T]{s: make([]T, n), back: b}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v.s))), len(b)), b)
	return v
}

// done writes a copied view back to guest memory.
func (v view[T]) done() {
	if v.back != nil {
		copy(v.back, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v.s))), len(v.back)))
	}
}

func f32s(mem api.Memory, ptr uint64, n int) view[float32] { return viewAt[float32](mem, ptr, n) }
func u16s(mem api.Memory, ptr uint64, n int) view[uint16]  { return viewAt[uint16](mem, ptr, n) }

// instantiateKernels adds "shear_kernels" to r. Every kernel first checks
// whether the call has been told to abort (its context ended more than
// the grace period ago): it then closes the instance.
func instantiateKernels(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("shear_kernels")
	for _, k := range kernels {
		params := k.sig
		if params == nil {
			params = make([]api.ValueType, k.params)
			for i := range params {
				params[i] = i32
			}
		}
		var results []api.ValueType
		if k.result != 0 {
			results = []api.ValueType{k.result}
		}
		fn := k.fn
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			checkAbort(ctx, m)
			fn(m.Memory(), stack)
		}), params, results).Export(k.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// instantiatePoll adds "shear_host" with poll(stage, stage_len, done,
// total, loss) → stop, which the guest calls at its safe points (between
// tokens, chunks, items and training steps).
func instantiatePoll(ctx context.Context, r wazero.Runtime) error {
	_, err := r.NewHostModuleBuilder("shear_host").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			checkAbort(ctx, m)
			cs, _ := ctx.Value(callKey{}).(*callState)
			if cs != nil && cs.progress != nil {
				if n := uint32(stack[1]); n > 0 && n <= 256 {
					if b, ok := m.Memory().Read(uint32(stack[0]), n); ok {
						cs.progress(string(b), int(int32(stack[2])), int(int32(stack[3])), api.DecodeF64(stack[4]))
					}
				}
			}
			stop := uint64(0)
			if ctx.Err() != nil {
				stop = 1
			}
			stack[0] = stop
		}), []api.ValueType{i32, i32, i32, i32, api.ValueTypeF64}, []api.ValueType{i32}).
		Export("poll").Instantiate(ctx)
	return err
}

// checkAbort ends the instance when the call's context has been done for
// longer than the grace period: the guest did not reach a safe point in
// time, so the call is cut short (and the engine starts a new instance).
func checkAbort(ctx context.Context, m api.Module) {
	if cs, _ := ctx.Value(callKey{}).(*callState); cs != nil && cs.abort.Load() {
		_ = m.CloseWithExitCode(ctx, exitAborted)
		panic(sys.NewExitError(exitAborted))
	}
}

// exitAborted is the exit code of an instance cut short by checkAbort.
const exitAborted = 0xabc
