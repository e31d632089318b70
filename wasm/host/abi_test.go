package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/wasm/internal/abi"
)

func storiesBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(testshared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputs calls the exports with bad arguments: each returns an
// error status with a message, and the instance keeps working.
func TestBadInputs(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []Mode{HostKernels, Pure} {
		e, err := New(ctx, Options{Mode: mode, CacheDir: filepath.Join(os.TempDir(), "shear-wazero-cache")})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		e.mu.Lock()
		inst, err := e.instance(ctx)
		e.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		put := func(s string) uint64 {
			p, err := e.put(ctx, inst, []byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return uint64(p)
		}
		good, err := e.put(ctx, inst, storiesBytes(t))
		if err != nil {
			t.Fatal(err)
		}
		gguf := storiesBytes(t)
		h, err := e.call(ctx, inst, "shear_load_model", uint64(good), uint64(len(gguf)), 0, 0)
		if err != nil || h <= 0 {
			t.Fatalf("loading: %d, %v", h, err)
		}
		bad := put("{not json")
		truncated := put(string(gguf[:len(gguf)/2]))
		garbage := put(strings.Repeat("GGUF", 100))
		req := put(`{"n": 4}`)
		cases := []struct {
			name string
			fn   string
			args []uint64
			want Code
		}{
			{"pointer outside memory", "shear_load_model", []uint64{0xfff00000, 100, 0, 0}, CodeMemory},
			{"length past memory", "shear_load_model", []uint64{uint64(good), 1 << 31, 0, 0}, CodeMemory},
			{"pointer not from alloc", "shear_load_model", []uint64{8, 100, 0, 0}, CodeMemory},
			{"length past buffer", "shear_generate", []uint64{uint64(h), req, 1000}, CodeMemory},
			{"free twice", "shear_free", []uint64{12345}, CodeMemory},
			{"malformed options", "shear_load_model", []uint64{uint64(good), uint64(len(gguf)), bad, 9}, CodeRequest},
			{"bad dtype", "shear_load_model", []uint64{uint64(good), uint64(len(gguf)), put(`{"dtype":"f8"}`), 14}, CodeRequest},
			{"truncated GGUF", "shear_load_model", []uint64{truncated, uint64(len(gguf) / 2), 0, 0}, CodeModel},
			{"not GGUF", "shear_load_model", []uint64{garbage, 400, 0, 0}, CodeModel},
			{"empty GGUF", "shear_load_model", []uint64{0, 0, 0, 0}, CodeModel},
			{"unknown model", "shear_generate", []uint64{999, req, 8}, CodeHandle},
			{"negative handle", "shear_perplexity", []uint64{uint64(0xffffffff), 0, 0}, CodeHandle},
			{"unknown session", "shear_generate_step", []uint64{777}, CodeHandle},
			{"malformed request", "shear_generate", []uint64{uint64(h), bad, 9}, CodeRequest},
			{"wrong JSON type", "shear_generate", []uint64{uint64(h), put(`{"n":"x"}`), 9}, CodeRequest},
			{"n = 0", "shear_generate", []uint64{uint64(h), put(`{"n":0}`), 7}, CodeRequest},
			{"negative temperature", "shear_generate", []uint64{uint64(h), put(`{"n":1,"temperature":-1}`), 24}, CodeRequest},
			{"context too small", "shear_generate", []uint64{uint64(h), put(`{"n":9,"ctx":4}`), 15}, CodeRequest},
			{"token outside vocabulary", "shear_logits", []uint64{uint64(h), put(`{"tokens":[1,99999]}`), 20}, CodeRequest},
			{"no items", "shear_mc_scores", []uint64{uint64(h), put(`{"items":[]}`), 12}, CodeRequest},
			{"gold out of range", "shear_mc_scores", []uint64{uint64(h), put(`{"items":[{"context":"a","choices":[" b"," c"],"gold":5}]}`), 56}, CodeRequest},
			{"text shorter than a chunk", "shear_perplexity", []uint64{uint64(h), put(`{"text":"hi"}`), 13}, CodeFailed},
			{"prune every group", "shear_prune", []uint64{uint64(h), put(`{"options":{"Method":"magnitude","Target":0.99}}`), 48}, CodeFailed},
			{"prune with a checkpoint", "shear_prune", []uint64{uint64(h), put(`{"options":{"Method":"magnitude","Target":0.2,"Checkpoint":"/x"}}`), 64}, CodeRequest},
			{"save unknown model", "shear_save_model", []uint64{4242}, CodeHandle},
		}
		for _, c := range cases {
			status, err := e.call(ctx, inst, c.fn, c.args...)
			var ge *Error
			if !errors.As(err, &ge) || ge.Code != c.want || ge.Msg == "" {
				t.Errorf("%v: %s: status %d, error %v; want code %v", mode, c.name, status, err, c.want)
			}
			if e.inst != inst {
				t.Fatalf("%v: %s stopped the instance", mode, c.name)
			}
		}
		// shear_alloc refuses sizes it cannot serve.
		if res, err := inst.fns["shear_alloc"].Call(ctx, 0); err != nil || res[0] != 0 {
			t.Errorf("%v: shear_alloc(0) = %v, %v", mode, res, err)
		}
		// The instance still works.
		var res GenerateResult
		if _, err := e.request(ctx, inst, "shear_generate", h, GenerateRequest{N: 4}, &res); err != nil || len(res.Tokens) != 4 {
			t.Errorf("%v: generating after the bad calls: %v %v", mode, res, err)
		}
		if v, err := inst.fns["shear_abi_version"].Call(ctx); err != nil || int32(v[0]) != abi.Version {
			t.Errorf("%v: abi version %v %v", mode, v, err)
		}
	}
}
