// Command shear runs, fine-tunes and structurally prunes LLaMA-family
// models on a CPU. Every command takes --json for one machine-readable
// JSON object on stdout; progress goes to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/shear-ai/shear/assets"
	"github.com/shear-ai/shear/internal/valid"
	"github.com/shear-ai/shear/runtime/gguf"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/simd"
)

// globals are the flags every command shares.
type globals struct {
	json    bool
	threads int
}

var g globals

func main() {
	if os.Getenv("GOGC") == "" {
		// A model is a few large pointer-free arrays: a collection costs
		// little, and the default GOGC=100 lets garbage grow to the live
		// heap's size, a second model's worth of resident memory.
		debug.SetGCPercent(25)
	}
	root := newRoot()
	if err := root.Execute(); err != nil {
		if g.json {
			json.NewEncoder(os.Stdout).Encode(map[string]string{"error": err.Error()})
		}
		fmt.Fprintln(os.Stderr, "shear:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "shear",
		Short:         "Run, fine-tune and structurally prune LLaMA-family models on a CPU",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := valid.Int("--threads", g.threads, 0, maxThreads()); err != nil {
				return err
			}
			simd.SetThreads(g.threads)
			return nil
		},
	}
	root.SetVersionTemplate("shear {{.Version}}\n")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print one JSON object on stdout")
	root.PersistentFlags().IntVar(&g.threads, "threads", 0, "worker threads (0: GOMAXPROCS)")
	root.AddCommand(newGenerate(), newPPL(), newEval(), newTokenize(), newInfo(), newBench(), newFinetune(), newMerge(),
		newConvert(), newQuantize(), newInit(), newGraph(), newCompress(), newPrune(), newAnalyze(), newLorashear(),
		newTokenizer(), newRecover(), newDocs())
	return root
}

// version names the build: the module version (a tagged `go install`)
// or the commit a checkout was built at, and the Go toolchain.
func version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev != "" {
		v += " " + rev
		if dirty {
			v += "+modified"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// maxThreads bounds --threads: more workers than a few per core only
// adds scheduling overhead (and 100000 goroutines' stacks).
func maxThreads() int { return max(64, 4*runtime.NumCPU()) }

// modelFlags are the flags of commands that load a model.
type modelFlags struct {
	path      string
	dtype     string
	keepFloat bool // F16 matrices stay F16 whatever dtype says (loadBase)
}

// defaultModelFlags: the embedded model, stored as the file says (a
// quantized file stays quantized, float files become f16).
func defaultModelFlags() modelFlags { return modelFlags{} }

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "model", "m", f.path, "GGUF model file (default: the embedded Austen model)")
	cmd.Flags().StringVar(&f.dtype, "dtype", f.dtype, "weight storage: f32, f16, q8_0 or q4_0 (default: a quantized file's own type, f16 for float files)")
}

// requests records, for TestFlagsMapToRequests, the request each command
// binds its flags to and that request's defaults.
var requests = map[*cobra.Command]boundRequest{}

type boundRequest struct {
	ptr      any // *T: every flag of the command points into it
	defaults any // T: what it must hold before the flags are parsed
}

// bindRequest records that cmd's flags are all fields of *ptr, whose
// defaults are defaults.
func bindRequest(cmd *cobra.Command, ptr, defaults any) {
	requests[cmd] = boundRequest{ptr, defaults}
}

// load loads -m, or the embedded default model when -m is omitted (with
// a note on stderr; stdout may carry --json).
func (f *modelFlags) load() (*model.Model, error) {
	opt := model.DefaultLoadOptions()
	if f.dtype != "" {
		dt, err := tensor.ParseDType(f.dtype)
		if err != nil {
			return nil, fmt.Errorf("--dtype: %w", err)
		}
		opt = model.LoadOptions{DType: dt}
	}
	opt.KeepFloat = f.keepFloat
	if f.path == "" {
		m, err := assets.LoadDefault(opt)
		if err != nil {
			return nil, fmt.Errorf("the embedded default model: %w", err)
		}
		fmt.Fprintf(os.Stderr, "using the embedded default model (Austen, %d params); pass -m MODEL.gguf for another\n", m.Params())
		return m, nil
	}
	return model.Load(f.path, opt)
}

// file parses -m's GGUF file, or the embedded default model's.
func (f *modelFlags) file() (*gguf.File, error) {
	if f.path == "" {
		return gguf.Parse(assets.DefaultModel())
	}
	return gguf.Open(f.path)
}

// globalJSON reports --json (for code where g names something else).
func globalJSON() bool { return g.json }

// emit prints v as JSON when --json is set, or calls text otherwise.
func emit(v any, text func()) error {
	if g.json {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(v)
	}
	text()
	return nil
}
