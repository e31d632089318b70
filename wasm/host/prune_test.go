package host_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/shear-ai/shear/prune"
	"github.com/shear-ai/shear/runtime/lora"
	"github.com/shear-ai/shear/runtime/train"
	"github.com/shear-ai/shear/wasm/host"
)

func pruneRequest(method string) host.PruneRequest {
	cfg := prune.DefaultLHSPG()
	cfg.Target, cfg.Warmup, cfg.Periods, cfg.PeriodSteps = 0.2, 1, 1, 2
	lc := lora.DefaultConfig()
	lc.Rank = 4
	return host.PruneRequest{Options: prune.Options{Method: method, Target: 0.2, LHSPG: cfg, LoRA: lc,
		Optim: train.Optim{Batch: 2, Ctx: 32, LR: 1e-3, Clip: 1, Seed: 1}}}
}

// TestPruneSameBytes prunes stories260K to 80% of its parameters through
// the engines and compares the GGUF files. A short LoRAShear run (no
// analysis, 3 LHSPG steps with LoRA rank 4) and magnitude pruning write
// native's bytes on both wasm engines: the host-kernel engine runs the
// native kernels, the pure one portable kernels that model them exactly.
func TestPruneSameBytes(t *testing.T) {
	gg := readShared(t, "models/stories260K.gguf")
	text := string(readShared(t, "data/tinystories-dev.txt")[:6000])
	type run struct {
		method string
		mode   host.Mode
	}
	var runs []run
	for _, method := range []string{"lorashear", "magnitude"} {
		for _, mode := range modes {
			runs = append(runs, run{method, mode})
		}
	}
	var mu sync.Mutex
	out := map[run][]byte{}
	t.Run("prune", func(t *testing.T) {
		for _, r := range runs {
			t.Run(r.method+"/"+r.mode.String(), func(t *testing.T) {
				t.Parallel()
				req := pruneRequest(r.method)
				if r.method == "lorashear" {
					req.TrainTexts = []string{text}
				}
				b, res, err := engine(t, r.mode).Prune(context.Background(), gg, req)
				if err != nil {
					t.Fatal(err)
				}
				if res.Report.ParamsAfter >= res.Report.ParamsBefore || res.Report.Ratio < 0.15 {
					t.Errorf("report %+v", res.Report)
				}
				mu.Lock()
				out[r] = b
				mu.Unlock()
			})
		}
	})
	for _, r := range runs {
		want := out[run{r.method, host.Native}]
		if b, ok := out[r]; !ok || want == nil {
			t.FailNow()
		} else if !bytes.Equal(b, want) {
			t.Errorf("%s on %v: the GGUF bytes (%d) differ from native's (%d)", r.method, r.mode, len(b), len(want))
		}
	}
	// The pruned model runs in the guest like any other.
	m, err := engine(t, host.HostKernels).Load(context.Background(), out[run{"lorashear", host.HostKernels}], host.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if res, err := m.Generate(context.Background(), host.GenerateRequest{N: 8}); err != nil || len(res.Tokens) == 0 {
		t.Errorf("generating with the pruned model: %v, %v", res, err)
	}
}
