// Package abi is the contract between the Shear WebAssembly guest
// (wasm/guest) and its hosts: the ABI version, the status codes of the
// exports. The JSON requests and results they exchange are the request
// types of internal/app; docs/WASM.md describes the exports themselves.
package abi

// Version is returned by shear_abi_version. It changes whenever an export,
// a status code or a JSON field changes meaning.
const Version = 2

// Code is the status an export returns: 0 or a positive handle on success,
// a negative Code on failure (the message is in shear_last_error).
type Code int32

const (
	OK             Code = 0
	ErrMemory      Code = -1 // a pointer or length outside the guest's live buffers
	ErrRequest     Code = -2 // malformed JSON or an invalid parameter
	ErrModel       Code = -3 // malformed GGUF or an unsupported model
	ErrHandle      Code = -4 // unknown model or session handle
	ErrInterrupted Code = -5 // the host's poll asked the call to stop
	ErrFailed      Code = -6 // the operation failed
	ErrInternal    Code = -7 // a bug in the guest: a recovered panic
)

// String names the code as docs/WASM.md does.
func (c Code) String() string {
	switch c {
	case OK:
		return "ok"
	case ErrMemory:
		return "bad pointer or length"
	case ErrRequest:
		return "bad request"
	case ErrModel:
		return "bad model"
	case ErrHandle:
		return "unknown handle"
	case ErrInterrupted:
		return "interrupted"
	case ErrFailed:
		return "failed"
	case ErrInternal:
		return "internal error"
	}
	return "unknown status"
}

// Statuses of shear_generate_step besides errors.
const (
	StepToken Code = 0 // a token was produced; the result is a Step
	StepDone  Code = 1 // generation ended; the result is a GenerateResult
)
