//go:build wasip1

// Command guest is Shear's core as a WebAssembly (wasip1) reactor: built
// with -buildmode=c-shared it exports the functions of docs/WASM.md
// (shear_abi_version, shear_alloc, shear_load_model, shear_generate, …)
// instead of running main. `make wasm` builds it twice into wasm/host:
// shear.wasm (pure Go) and shear-host.wasm (-tags shearhost: the heavy
// kernels are imported from the host).
//
// Every export validates its inputs and recovers panics: a bad pointer,
// malformed JSON or a malformed GGUF file returns a negative status and a
// message in shear_last_error, never a trap. Only running out of the
// host's memory cap (a fatal error of the Go runtime) ends the instance.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"unsafe"

	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/wasm/internal/abi"
)

func main() {}

// poll is the guest's only import besides WASI: it reports progress (an
// empty stage means none) and returns non-zero when the call should stop.
//
//go:wasmimport shear_host poll
func hostPoll(stage unsafe.Pointer, stageLen uint32, done, total int32, loss float64) int32

func poll(stage string, done, total int, loss float64) bool {
	return hostPoll(unsafe.Pointer(unsafe.StringData(stage)), uint32(len(stage)), int32(done), int32(total), loss) != 0
}

// The guest's state. A wasm instance runs one call at a time, so none of
// it needs locking.
var (
	allocs   = map[uint32][]byte{} // live buffers handed to the host, by address
	models   = map[int32]*model.Model{}
	sessions = map[int32]*app.Generator{}
	nextID   int32
	result   []byte // the last call's result
	lastErr  []byte // the last call's error message
)

// failure is an error with its status code.
type failure struct {
	code abi.Code
	err  error
}

func (f failure) Error() string { return f.err.Error() }

func fail(code abi.Code, format string, args ...any) error {
	return failure{code, fmt.Errorf(format, args...)}
}

// call runs one export: it clears the previous result and error, recovers
// a panic as ErrInternal (or as panicCode), and turns an error into its
// status code and message.
func call(panicCode abi.Code, fn func() (int32, error)) int32 {
	result = nil
	return guard(panicCode, fn)
}

// guard is call without clearing the result, for the exports that manage
// buffers (the host may allocate before it reads a result).
func guard(panicCode abi.Code, fn func() (int32, error)) (status int32) {
	lastErr = nil
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("%v", r)
			if panicCode == abi.ErrInternal {
				msg += "\n" + string(debug.Stack())
			}
			lastErr = []byte(msg)
			status = int32(panicCode)
		}
	}()
	v, err := fn()
	if err != nil {
		lastErr = []byte(err.Error())
		return int32(codeOf(err))
	}
	return v
}

func codeOf(err error) abi.Code {
	var f failure
	var r app.RequestError
	switch {
	case errors.As(err, &f):
		return f.code
	case errors.Is(err, app.ErrInterrupted):
		return abi.ErrInterrupted
	case errors.As(err, &r):
		return abi.ErrRequest
	}
	return abi.ErrFailed
}

// input returns the guest bytes [ptr, ptr+n), which must lie inside one
// live buffer from shear_alloc (n = 0 is the empty input, whatever ptr).
func input(ptr, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	end := uint64(ptr) + uint64(n)
	for base, b := range allocs {
		if ptr >= base && end <= uint64(base)+uint64(len(b)) {
			off := ptr - base
			return b[off : off+n : off+n], nil
		}
	}
	return nil, fail(abi.ErrMemory, "bytes [%#x, %#x) are not inside a buffer from shear_alloc", ptr, end)
}

// request decodes a JSON request from guest memory.
func request(ptr, n uint32, v any) error {
	b, err := input(ptr, n)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fail(abi.ErrRequest, "malformed request JSON: %v", err)
	}
	return nil
}

// reply stores v as the JSON result.
func reply(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	result = b
	return nil
}

// modelRequest is the common shape of the exports that run one request
// on a loaded model and reply with its JSON result.
func modelRequest[Req any](h int32, ptr, n uint32, run func(*model.Model, Req) (any, error)) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		var req Req
		if err := request(ptr, n, &req); err != nil {
			return 0, err
		}
		res, err := run(m, req)
		if err != nil {
			return 0, err
		}
		return 0, reply(res)
	})
}

func getModel(h int32) (*model.Model, error) {
	m, ok := models[h]
	if !ok {
		return nil, fail(abi.ErrHandle, "no model with handle %d", h)
	}
	return m, nil
}

func newHandle() int32 {
	nextID++
	if nextID <= 0 { // after 2³¹ handles
		nextID = 1
	}
	return nextID
}

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

//go:wasmexport shear_abi_version
func shearABIVersion() int32 { return abi.Version }

// shear_alloc returns a buffer of size bytes for the host to fill (0 when
// size is 0 or too large). It stays alive until shear_free.
//
//go:wasmexport shear_alloc
func shearAlloc(size uint32) uint32 {
	var p uint32
	guard(abi.ErrInternal, func() (int32, error) {
		if size == 0 || size > 1<<31 {
			return 0, fail(abi.ErrMemory, "cannot allocate %d bytes", size)
		}
		b := make([]byte, size)
		p = addr(b)
		allocs[p] = b
		return 0, nil
	})
	return p
}

//go:wasmexport shear_free
func shearFree(ptr uint32) int32 {
	return guard(abi.ErrInternal, func() (int32, error) {
		if _, ok := allocs[ptr]; !ok {
			return 0, fail(abi.ErrMemory, "%#x is not a buffer from shear_alloc", ptr)
		}
		delete(allocs, ptr)
		return 0, nil
	})
}

//go:wasmexport shear_last_error_ptr
func shearLastErrorPtr() uint32 { return addr(lastErr) }

//go:wasmexport shear_last_error_len
func shearLastErrorLen() uint32 { return uint32(len(lastErr)) }

//go:wasmexport shear_result_ptr
func shearResultPtr() uint32 { return addr(result) }

//go:wasmexport shear_result_len
func shearResultLen() uint32 { return uint32(len(result)) }

// shear_load_model parses GGUF bytes and binds a model; options are
// app.LoadOptions JSON. It returns a model handle and sets the result to
// app.ModelInfo. The GGUF buffer may be freed afterwards.
//
//go:wasmexport shear_load_model
func shearLoadModel(ptr, n, optPtr, optLen uint32) int32 {
	return call(abi.ErrModel, func() (int32, error) {
		var opt app.LoadOptions
		if err := request(optPtr, optLen, &opt); err != nil {
			return 0, err
		}
		lo, err := app.ParseLoad(opt)
		if err != nil {
			return 0, err
		}
		b, err := input(ptr, n)
		if err != nil {
			return 0, err
		}
		f, err := gguf.Parse(b)
		if err != nil {
			return 0, fail(abi.ErrModel, "%v", err)
		}
		m, err := model.FromGGUF(f, lo)
		if err != nil {
			return 0, fail(abi.ErrModel, "%v", err)
		}
		h := newHandle()
		models[h] = m
		return h, reply(app.Info(m))
	})
}

//go:wasmexport shear_free_model
func shearFreeModel(h int32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		if _, err := getModel(h); err != nil {
			return 0, err
		}
		delete(models, h)
		return 0, nil
	})
}

//go:wasmexport shear_model_info
func shearModelInfo(h int32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		return 0, reply(app.Info(m))
	})
}

// shear_save_model sets the result to the model's GGUF bytes.
//
//go:wasmexport shear_save_model
func shearSaveModel(h int32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		b, err := app.Save(m)
		result = b
		return 0, err
	})
}

//go:wasmexport shear_tokenize
func shearTokenize(h int32, ptr, n uint32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		var req app.TokenizeRequest
		if err := request(ptr, n, &req); err != nil {
			return 0, err
		}
		return 0, reply(app.Tokenize(m, req))
	})
}

// shear_logits sets the result to the logits of every token (float32,
// little-endian, len(tokens) × vocab), run from an empty cache.
//
//go:wasmexport shear_logits
func shearLogits(h int32, ptr, n uint32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		var req app.LogitsRequest
		if err := request(ptr, n, &req); err != nil {
			return 0, err
		}
		out, err := app.Logits(m, req)
		if err != nil {
			return 0, err
		}
		result = make([]byte, 4*len(out))
		for i, v := range out {
			binary.LittleEndian.PutUint32(result[4*i:], math.Float32bits(v))
		}
		return 0, nil
	})
}

//go:wasmexport shear_generate
func shearGenerate(h int32, ptr, n uint32) int32 {
	return modelRequest(h, ptr, n, func(m *model.Model, req app.GenerateRequest) (any, error) { return app.Generate(m, req, poll) })
}

// shear_generate_start runs the prompt and returns a session handle for
// shear_generate_step; free it with shear_generate_end.
//
//go:wasmexport shear_generate_start
func shearGenerateStart(h int32, ptr, n uint32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		var req app.GenerateRequest
		if err := request(ptr, n, &req); err != nil {
			return 0, err
		}
		g, err := app.NewGenerator(m, req)
		if err != nil {
			return 0, err
		}
		s := newHandle()
		sessions[s] = g
		return s, nil
	})
}

// shear_generate_step produces one token (status 0, result app.Step) or
// ends the generation (status 1, result app.GenerateResult).
//
//go:wasmexport shear_generate_step
func shearGenerateStep(s int32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		g, ok := sessions[s]
		if !ok {
			return 0, fail(abi.ErrHandle, "no generation session with handle %d", s)
		}
		tok, piece, done, err := g.Next()
		if err != nil {
			return 0, err
		}
		if done {
			return int32(abi.StepDone), reply(g.Result())
		}
		return int32(abi.StepToken), reply(app.Step{Token: tok, Text: piece})
	})
}

//go:wasmexport shear_generate_end
func shearGenerateEnd(s int32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		if _, ok := sessions[s]; !ok {
			return 0, fail(abi.ErrHandle, "no generation session with handle %d", s)
		}
		delete(sessions, s)
		return 0, nil
	})
}

//go:wasmexport shear_perplexity
func shearPerplexity(h int32, ptr, n uint32) int32 {
	return modelRequest(h, ptr, n, func(m *model.Model, req app.PerplexityRequest) (any, error) { return app.Perplexity(m, req, poll) })
}

//go:wasmexport shear_mc_scores
func shearMCScores(h int32, ptr, n uint32) int32 {
	return modelRequest(h, ptr, n, func(m *model.Model, req app.ScoreRequest) (any, error) { return app.Score(m, req, poll) })
}

// shear_prune prunes the model (loaded as f32; modified in place) and
// returns the handle of the compressed model, with app.PruneResult as the
// result. Save it with shear_save_model.
//
//go:wasmexport shear_prune
func shearPrune(h int32, ptr, n uint32) int32 {
	return call(abi.ErrInternal, func() (int32, error) {
		m, err := getModel(h)
		if err != nil {
			return 0, err
		}
		var req app.PruneRequest
		if err := request(ptr, n, &req); err != nil {
			return 0, err
		}
		req, err = req.InMemory()
		if err != nil {
			return 0, err
		}
		ctx, progress := app.PollContext(poll)
		cm, res, err := app.Prune(ctx, m, req, progress)
		if err != nil {
			return 0, err
		}
		h2 := newHandle()
		models[h2] = cm
		return h2, reply(res)
	})
}
