package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/app"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
)

// The one storage rule of every command that writes a model (prune,
// lorashear, recover, finetune, compress, merge; convert and quantize by
// their own flags): the output keeps the storage type of the input file
// unless --dtype names another, whatever the model was held in while it
// was trained or edited. Each prints the file size before and after.

// outputDTypeUsage is --dtype's help in the commands that write a model.
const outputDTypeUsage = "storage of the written model's matrices: f32, f16, q8_0 or q4_0 (default: the input's; q4_k → q4_0, q5_k/q6_k → q8_0)"

// registerOutput adds the model flags of a command that writes a model:
// --dtype names the output's storage.
func (f *modelFlags) registerOutput(cmd *cobra.Command) {
	f.register(cmd)
	cmd.Flags().Lookup("dtype").Usage = outputDTypeUsage
}

// loadExact loads -m with every matrix in f32, whatever --dtype says: an
// exact copy of any source for training or editing, written back by
// writeModel in the output's storage.
func (f *modelFlags) loadExact() (*model.Model, error) {
	if err := f.checkDType(); err != nil {
		return nil, err
	}
	exact := *f
	exact.dtype = "f32"
	return exact.load()
}

// checkDType refuses an unknown --dtype before anything is loaded.
func (f *modelFlags) checkDType() error {
	if f.dtype == "" {
		return nil
	}
	_, err := tensor.ParseDType(f.dtype)
	if err != nil {
		return fmt.Errorf("--dtype: %w", err)
	}
	return nil
}

// outputStorage is the output's storage type: --dtype, or that of the
// input model's source file.
func (f *modelFlags) outputStorage(input *model.Model) (tensor.DType, error) {
	if f.dtype == "" {
		return input.OutputStorage(), nil
	}
	dt, err := tensor.ParseDType(f.dtype)
	if err != nil {
		return 0, fmt.Errorf("--dtype: %w", err)
	}
	return dt, nil
}

// inputBytes is the size of -m's file (or of the embedded model).
func (f *modelFlags) inputBytes() int64 {
	if f.path == "" {
		return int64(len(assets.DefaultModel()))
	}
	return app.SizeOf(f.path)
}

// written describes a model file a command wrote.
type written struct {
	Path       string `json:"path"`
	DType      string `json:"dtype"`
	Bytes      int64  `json:"bytes"`
	InputBytes int64  `json:"input_bytes"`
}

func (w written) String() string {
	return fmt.Sprintf("wrote %s (%s): %s → %s bytes (%.2f× the input)", w.Path, w.DType, commas(w.InputBytes), commas(w.Bytes),
		float64(w.Bytes)/float64(max(w.InputBytes, 1)))
}

// writeModel stores m (a model made from -m's) as dt and writes it to
// out atomically; Ctrl-C leaves no file.
func (f *modelFlags) writeModel(ctx context.Context, m *model.Model, dt tensor.DType, out string) (written, error) {
	if err := m.Convert(dt); err != nil {
		return written{}, err
	}
	if err := saveGGUF(ctx, m, out); err != nil {
		return written{}, err
	}
	return f.wrote(m, out), nil
}

// wrote describes the model file out, written from m.
func (f *modelFlags) wrote(m *model.Model, out string) written {
	return written{Path: out, DType: app.StorageNames(m), Bytes: app.SizeOf(out), InputBytes: f.inputBytes()}
}

// loadAndStorage loads -m exactly (f32) and returns the output's storage
// with it: the commands that train or edit a model and write it.
func (f *modelFlags) loadAndStorage() (*model.Model, tensor.DType, error) {
	m, err := f.loadExact()
	if err != nil {
		return nil, 0, err
	}
	dt, err := f.outputStorage(m)
	return m, dt, err
}

// commas writes n with thousands separators (2,521,344).
func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
