package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shear-ai/shear/internal/valid"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/shear-ai/shear/wasm/internal/abi"
)

// Mode selects where an Engine runs the core.
type Mode int

const (
	// HostKernels runs shear-host.wasm: the core in wasm, its matrix
	// products and fp16 conversions natively on the host (the default).
	HostKernels Mode = iota
	// Pure runs shear.wasm: everything inside the sandbox, single-threaded.
	Pure
	// Native runs the same operations in-process without wasm: the
	// reference the wasm modes are tested against.
	Native
)

func (m Mode) String() string {
	switch m {
	case HostKernels:
		return "wasm"
	case Pure:
		return "wasm-pure"
	case Native:
		return "native"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads the CLI's names: native, wasm (HostKernels), wasm-pure.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "wasm", "wasm-host":
		return HostKernels, nil
	case "wasm-pure":
		return Pure, nil
	case "native":
		return Native, nil
	}
	return 0, fmt.Errorf("engine %q is not native, wasm or wasm-pure", s)
}

// Options configure an Engine.
type Options struct {
	Mode Mode
	// MemoryLimitMB caps the instance's linear memory (default 2048, at
	// most 4096). Running out ends the call with ErrMemoryLimit.
	MemoryLimitMB int
	// CacheDir, if set, keeps compiled modules on disk across processes;
	// otherwise they are cached in memory for the process.
	CacheDir string
	// Preempt makes wazero stop wasm code as soon as a call's context is
	// done (RuntimeConfig.WithCloseOnContextDone), at a large cost to Go
	// guests (docs/WASM.md); the instance is then replaced. Without it the
	// guest stops at its next safe point, and in HostKernels mode a call
	// that has not reached one within Grace is cut short at the next kernel.
	Preempt bool
	// Grace is how long HostKernels waits for a safe point after the
	// context is done (default 100ms).
	Grace time.Duration
	// Progress, if set, receives the guest's progress reports.
	Progress func(stage string, done, total int, loss float64)
}

// ErrMemoryLimit is returned when an instance ran out of its memory cap.
// The range of Options.MemoryLimitMB: the modules declare 52 pages
// (3.25 MiB) of initial memory, and wasm32 addresses at most 4 GiB.
const (
	MinMemoryLimitMB = 4
	MaxMemoryLimitMB = 4096
)

var ErrMemoryLimit = errors.New("wasm: the instance ran out of memory (Options.MemoryLimitMB)")

// ErrInstance is returned when an instance stopped for another reason
// (a trap or an abort). The engine replaces it on the next call.
var ErrInstance = errors.New("wasm: the instance stopped")

// Code is a status the guest reports (docs/WASM.md).
type Code = abi.Code

// The guest's error codes.
const (
	CodeMemory      = abi.ErrMemory
	CodeRequest     = abi.ErrRequest
	CodeModel       = abi.ErrModel
	CodeHandle      = abi.ErrHandle
	CodeInterrupted = abi.ErrInterrupted
	CodeFailed      = abi.ErrFailed
	CodeInternal    = abi.ErrInternal
)

// Error is a failure the guest reported; the instance stays usable.
type Error struct {
	Op   string // the export
	Code Code
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Op, e.Code, e.Msg) }

// Engine runs Shear's core in one wasm instance (or natively). It is safe
// for concurrent use, but a wasm instance runs one call at a time, so the
// calls of all its goroutines are serialized; use a Pool to run in
// parallel.
type Engine struct {
	mu     sync.Mutex
	opts   Options
	rt     wazero.Runtime
	cm     wazero.CompiledModule
	inst   *instance // nil until first use and after the instance stopped
	gen    uint64    // instances started so far
	closed bool
}

type instance struct {
	mod    api.Module
	mem    api.Memory
	fns    map[string]api.Function
	stderr *headBuffer
	gen    uint64
}

// callKey carries a callState to the host functions through the call's
// context.
type callKey struct{}

type callState struct {
	progress func(stage string, done, total int, loss float64)
	abort    atomic.Bool
}

var (
	cacheMu sync.Mutex
	caches  = map[string]wazero.CompilationCache{}
)

// compilationCache returns the process-wide cache for dir ("" in memory).
func compilationCache(dir string) (wazero.CompilationCache, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	var c wazero.CompilationCache
	if dir == "" {
		c = wazero.NewCompilationCache()
	} else {
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, err
		}
	}
	caches[dir] = c
	return c, nil
}

// New creates an engine and compiles its module (once per process, or
// once per CacheDir). The instance itself starts on first use.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.MemoryLimitMB == 0 {
		opts.MemoryLimitMB = 2048
	}
	if err := valid.Int("wasm/host: MemoryLimitMB", opts.MemoryLimitMB, MinMemoryLimitMB, MaxMemoryLimitMB); err != nil {
		return nil, err
	}
	if opts.Grace <= 0 {
		opts.Grace = 100 * time.Millisecond
	}
	e := &Engine{opts: opts}
	if opts.Mode == Native {
		return e, nil
	}
	bin, err := Module(opts.Mode)
	if err != nil {
		return nil, err
	}
	cache, err := compilationCache(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(uint32(opts.MemoryLimitMB) * 16).
		WithCloseOnContextDone(opts.Preempt)
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := e.setup(ctx, bin); err != nil {
		e.rt.Close(ctx)
		return nil, err
	}
	return e, nil
}

func (e *Engine) setup(ctx context.Context, bin []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		return err
	}
	if err := instantiatePoll(ctx, e.rt); err != nil {
		return err
	}
	if err := instantiateKernels(ctx, e.rt); err != nil {
		return err
	}
	var err error
	e.cm, err = e.rt.CompileModule(ctx, bin)
	return err
}

// Mode is the engine's mode.
func (e *Engine) Mode() Mode { return e.opts.Mode }

// Close releases the engine and its instance.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.inst = nil
	if e.rt != nil {
		return e.rt.Close(ctx)
	}
	return nil
}

// instance returns the running instance, starting one if needed.
func (e *Engine) instance(ctx context.Context) (*instance, error) {
	if e.closed {
		return nil, errors.New("wasm/host: the engine is closed")
	}
	if e.inst != nil {
		return e.inst, nil
	}
	stderr := &headBuffer{max: 4096}
	// GOMEMLIMIT makes the guest's garbage collector work harder near the
	// cap instead of growing into it.
	soft := e.opts.MemoryLimitMB * 7 / 8
	cfg := wazero.NewModuleConfig().WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithStderr(stderr).WithStdout(io.Discard).
		WithEnv("GOMEMLIMIT", fmt.Sprintf("%dMiB", soft))
	if alloc := memoryAllocator(); alloc != nil {
		ctx = experimental.WithMemoryAllocator(ctx, alloc)
	}
	mod, err := e.rt.InstantiateModule(ctx, e.cm, cfg)
	if err != nil {
		return nil, e.instanceError("starting the instance", err, stderr)
	}
	inst := &instance{mod: mod, mem: mod.Memory(), fns: map[string]api.Function{}, stderr: stderr}
	for _, name := range exports {
		f := mod.ExportedFunction(name)
		if f == nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("wasm/host: the module does not export %s", name)
		}
		inst.fns[name] = f
	}
	if v, err := inst.fns["shear_abi_version"].Call(ctx); err != nil || int32(v[0]) != abi.Version {
		mod.Close(ctx)
		return nil, fmt.Errorf("wasm/host: the module's ABI version is not %d", abi.Version)
	}
	e.gen++
	inst.gen = e.gen
	e.inst = inst
	return inst, nil
}

var exports = []string{"shear_abi_version", "shear_alloc", "shear_free", "shear_last_error_ptr", "shear_last_error_len",
	"shear_result_ptr", "shear_result_len", "shear_load_model", "shear_free_model", "shear_model_info", "shear_save_model",
	"shear_tokenize", "shear_logits", "shear_generate", "shear_generate_start", "shear_generate_step", "shear_generate_end",
	"shear_perplexity", "shear_mc_scores", "shear_prune"}

// instanceError turns a failed call into an error and drops the instance.
func (e *Engine) instanceError(op string, err error, stderr *headBuffer) error {
	if e.inst != nil {
		e.inst.mod.Close(context.Background())
		e.inst = nil
	}
	tail := strings.TrimSpace(stderr.String())
	if i := strings.Index(tail, "\n\ngoroutine "); i > 0 {
		tail = tail[:i] // the Go runtime's stack dump
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("%s: %w", op, context.Canceled)
		}
	}
	// The Go runtime reports a failed memory.grow as a fatal error, which
	// ends in a trap.
	if strings.Contains(tail, "fatal error: out of memory") {
		first, _, _ := strings.Cut(tail, "\n")
		return fmt.Errorf("%s: %w (%d MiB; guest: %s)", op, ErrMemoryLimit, e.opts.MemoryLimitMB, first)
	}
	if tail != "" {
		return fmt.Errorf("%s: %w: %v (guest stderr: %s)", op, ErrInstance, err, tail)
	}
	if i := strings.Index(err.Error(), "\nwasm stack trace:"); i > 0 {
		err = errors.New(err.Error()[:i])
	}
	return fmt.Errorf("%s: %w: %v", op, ErrInstance, err)
}

// call runs one export with integer arguments and returns its status. The
// instance must be current. A failure that stops the instance is returned
// as an error (mapped to the context's error, ErrMemoryLimit or
// ErrInstance); a negative status is returned as an *Error.
func (e *Engine) call(ctx context.Context, inst *instance, name string, args ...uint64) (int32, error) {
	cs := &callState{progress: e.opts.Progress}
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(ctx, func() {
		timer.Store(time.AfterFunc(e.opts.Grace, func() { cs.abort.Store(true) }))
	})
	defer func() {
		stop()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
	}()
	res, err := inst.fns[name].Call(context.WithValue(ctx, callKey{}, cs), args...)
	if err != nil {
		err = e.instanceError(name, err, inst.stderr)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return 0, err
	}
	status := int32(res[0])
	if status < 0 {
		msg := e.readString(ctx, inst, "shear_last_error_ptr", "shear_last_error_len")
		ge := &Error{Op: name, Code: Code(status), Msg: msg}
		if ge.Code == CodeInterrupted && ctx.Err() != nil {
			return status, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		return status, ge
	}
	return status, nil
}

// readString copies a (ptr, len) pair of the guest's out of its memory.
func (e *Engine) readString(ctx context.Context, inst *instance, ptrFn, lenFn string) string {
	b, err := e.readBytes(ctx, inst, ptrFn, lenFn)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (e *Engine) readBytes(ctx context.Context, inst *instance, ptrFn, lenFn string) ([]byte, error) {
	p, err := inst.fns[ptrFn].Call(ctx)
	if err != nil {
		return nil, e.instanceError(ptrFn, err, inst.stderr)
	}
	n, err := inst.fns[lenFn].Call(ctx)
	if err != nil {
		return nil, e.instanceError(lenFn, err, inst.stderr)
	}
	if uint32(n[0]) == 0 {
		return []byte{}, nil
	}
	b, ok := inst.mem.Read(uint32(p[0]), uint32(n[0]))
	if !ok {
		return nil, fmt.Errorf("wasm/host: the guest's buffer [%#x+%d] is outside its memory", p[0], n[0])
	}
	return append([]byte(nil), b...), nil
}

// result copies the last call's result.
func (e *Engine) result(ctx context.Context, inst *instance) ([]byte, error) {
	return e.readBytes(ctx, inst, "shear_result_ptr", "shear_result_len")
}

// put copies b into a new guest buffer and returns its address (0 for an
// empty b). Free it with free.
func (e *Engine) put(ctx context.Context, inst *instance, b []byte) (uint32, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if uint64(len(b)) > 1<<31 {
		return 0, fmt.Errorf("wasm/host: %d bytes do not fit the guest", len(b))
	}
	res, err := inst.fns["shear_alloc"].Call(ctx, uint64(len(b)))
	if err != nil {
		return 0, e.instanceError("shear_alloc", err, inst.stderr)
	}
	p := uint32(res[0])
	if p == 0 {
		return 0, &Error{Op: "shear_alloc", Code: CodeMemory, Msg: e.readString(ctx, inst, "shear_last_error_ptr", "shear_last_error_len")}
	}
	if !inst.mem.Write(p, b) {
		return 0, fmt.Errorf("wasm/host: shear_alloc returned %#x, outside the guest's memory", p)
	}
	return p, nil
}

func (e *Engine) free(ctx context.Context, inst *instance, p uint32) {
	if p != 0 && e.inst == inst {
		inst.fns["shear_free"].Call(ctx, uint64(p))
	}
}

// request runs an export that takes (handle, request JSON) and decodes
// its JSON result into out (if not nil). It returns the status.
func (e *Engine) request(ctx context.Context, inst *instance, name string, handle int32, req, out any) (int32, error) {
	js, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("wasm/host: encoding the %s request: %w", name, err)
	}
	p, err := e.put(ctx, inst, js)
	if err != nil {
		return 0, err
	}
	defer e.free(context.Background(), inst, p)
	status, err := e.call(ctx, inst, name, uint64(uint32(handle)), uint64(p), uint64(len(js)))
	if err != nil {
		return status, err
	}
	if out != nil {
		b, err := e.result(ctx, inst)
		if err != nil {
			return status, err
		}
		if err := json.Unmarshal(b, out); err != nil {
			return status, fmt.Errorf("wasm/host: decoding the %s result: %w", name, err)
		}
	}
	return status, nil
}

// headBuffer keeps the first max bytes written to it (the guest's stderr:
// a fatal error's message comes first).
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
