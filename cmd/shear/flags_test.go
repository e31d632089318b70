package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shear-ai/shear/internal/app"
)

// notYetBound are the commands whose flags are still plain variables, not
// fields of a request. It is empty: a new command must bind its flags.
var notYetBound []string

// TestFlagsMapToRequests walks every command's flags: each one of a bound
// command must point into that command's request (so the run reads it
// from there), and the request must start out equal to its defaults (so
// no flag carries a literal default of its own).
func TestFlagsMapToRequests(t *testing.T) {
	root := newRoot()
	var unbound []string
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				all = append(all, sub)
				walk(sub)
			}
		}
	}
	walk(root)
	for _, cmd := range all {
		if cmd.HasSubCommands() && !cmd.HasLocalFlags() {
			continue // a group such as `shear tokenizer`
		}
		req, ok := requests[cmd]
		if !ok {
			unbound = append(unbound, cmd.Name())
			continue
		}
		rv := reflect.ValueOf(req.ptr)
		lo, size := rv.Pointer(), rv.Elem().Type().Size()
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			addr := boundAddress(f.Value)
			if addr < lo || addr >= lo+size {
				t.Errorf("%s --%s is not a field of the command's request %T", cmd.Name(), f.Name, req.ptr)
			}
		})
		if got := rv.Elem().Interface(); !reflect.DeepEqual(got, req.defaults) {
			t.Errorf("%s: the flags' defaults\n%+v\ndiffer from the request's defaults\n%+v", cmd.Name(), got, req.defaults)
		}
	}
	slices.Sort(unbound)
	if !slices.Equal(unbound, notYetBound) {
		t.Errorf("commands without a bound request: %v, want %v", unbound, notYetBound)
	}
}

// boundAddress is the address of the variable a flag sets: the value
// itself for the scalar flag types, the slice it points to for the
// slice types (a struct holding that pointer).
func boundAddress(v pflag.Value) uintptr {
	rv := reflect.ValueOf(v)
	if e := rv.Elem(); e.Kind() == reflect.Struct {
		if p := e.FieldByName("value"); p.IsValid() && p.Kind() == reflect.Pointer {
			return p.Pointer()
		}
	}
	return rv.Pointer()
}

// TestNoIgnoredTrainingFlags: the flags issue #13 found accepted and
// silently ignored are gone from the commands that ignored them.
func TestNoIgnoredTrainingFlags(t *testing.T) {
	ignored := map[string][]string{
		"prune":     {"steps", "full"},
		"lorashear": {"steps", "accum", "warmup", "min-lr", "weight-decay", "eval-every", "dev-max", "dev-frac", "full", "method"},
		"recover":   {"steps", "accum", "warmup", "min-lr", "weight-decay", "eval-every", "dev-max", "dev-frac", "full"},
	}
	root := newRoot()
	for name, flags := range ignored {
		cmd := findCommand(t, root, name)
		for _, f := range flags {
			if cmd.Flags().Lookup(f) != nil {
				t.Errorf("%s still accepts --%s, which it ignores", name, f)
			}
		}
	}
}

func findCommand(t *testing.T, root *cobra.Command, name string) *cobra.Command {
	t.Helper()
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	t.Fatalf("no command %s", name)
	return nil
}

// TestBadNumbersRefused (#17.5): every bad number is refused before any
// work, naming the flag and the allowed range, and leaves no file or
// directory behind.
func TestBadNumbersRefused(t *testing.T) {
	needShared(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"prune", "--target", "NaN"}, "--target NaN: must be a finite number in (0, 1)"},
		{[]string{"prune", "--target", "Inf"}, "--target +Inf: must be a finite number in (0, 1)"},
		{[]string{"prune", "--target", "1"}, "--target 1: must be a finite number in (0, 1)"},
		{[]string{"prune", "--threads", "100000"}, "--threads 100000: must be in [0, "},
		{[]string{"prune", "--lr", "NaN"}, "--lr NaN: must be a finite number in (0, ∞)"},
		{[]string{"prune", "--gamma", "-0.5"}, "--gamma -0.5"},
		{[]string{"prune", "--period-steps", "0"}, "--period-steps 0: must be in [1, "},
		{[]string{"prune", "--recover-steps", "5", "--dev-frac", "1"}, "--dev-frac 1: must be a finite number in [0, 1)"},
		{[]string{"prune", "--engine", "wasm", "--wasm-memory", "1"}, "--wasm-memory 1: must be in [4, 4096]"},
		{[]string{"prune", "--ctx", "100000"}, "--ctx 100000: must be in [8, "}, // beyond the model's context
		{[]string{"prune", "--method", "magnitude", "--target", "0.9999"}, "removes every"},
		{[]string{"lorashear", "--target", "NaN"}, "--target NaN"},
		{[]string{"lorashear", "--distill", "2"}, "--distill 2: must be a finite number in [0, 1]"},
		{[]string{"lorashear", "--lora-rank", "0"}, "--lora-rank 0"},
		{[]string{"lorashear", "--budget", "-1"}, "--budget -1: must be a finite number in [0, ∞)"},
		{[]string{"lorashear", "--budget", "NaN"}, "--budget NaN"},
		{[]string{"recover", "--dense", storiesGGUF, "--eta", "NaN"}, "--eta NaN"},
		{[]string{"finetune", "--lr", "Inf"}, "--lr +Inf"},
		{[]string{"finetune", "--ctx", "100000"}, "--ctx 100000: must be in [8, "},
	}
	for _, c := range cases {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.gguf")
		args := append(c.args, "-m", storiesGGUF, "--data", tinyText, "-o", out)
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shear %s: error %v, want one containing %q", strings.Join(c.args, " "), err, c.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("shear %s left %v behind", strings.Join(c.args, " "), ents)
		}
	}
	out := filepath.Join(t.TempDir(), "analysis")
	for flag, want := range map[string]string{"--gamma": "--gamma NaN", "--ctx": "--ctx 100000: must be in [8, 2048]"} {
		v := map[string]string{"--gamma": "NaN", "--ctx": "100000"}[flag]
		_, err := runCLI(t, "analyze", "-m", storiesGGUF, "--calib", tinyText, "-o", out, flag, v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shear analyze %s %s: error %v, want one containing %q", flag, v, err, want)
		}
	}
}

// TestPruneMissingOutputDir: prune, lorashear and recover refuse an output
// in a directory that does not exist, as quantize does, and create none.
func TestPruneMissingOutputDir(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "missing", "out.gguf")
	for _, args := range [][]string{
		{"prune", "--method", "magnitude"},
		{"lorashear"},
		{"recover", "--dense", storiesGGUF},
		{"quantize", "--type", "q8_0"},
	} {
		args = append(args, "-m", storiesGGUF, "--data", tinyText, "-o", out)
		if args[0] == "quantize" {
			args = []string{"quantize", "--type", "q8_0", "-m", storiesGGUF, "-o", out}
		}
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("shear %s: error %v, want the missing directory named", strings.Join(args, " "), err)
		}
		if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
			t.Fatalf("shear %s created the missing directory", args[0])
		}
	}
}

// TestGenerateBoundedByContext (#17.4): -n and --ctx beyond the model's
// context (2048 for stories260K) are refused before anything is
// allocated, on every engine, naming the flag and the range.
func TestGenerateBoundedByContext(t *testing.T) {
	needShared(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-n", "100000000"}, "-n 100000000: must be in [1, 2047]"},
		{[]string{"--ctx", "100000000"}, "--ctx 100000000: must be in [0, 2048]"},
		{[]string{"--ctx", "16", "-n", "20"}, "-n 20: must be in [1, 15]"},
		{[]string{"-n", "100000000", "--engine", "wasm"}, "-n 100000000: must be in [1, 2047]"},
		{[]string{"--ctx", "64", "--engine", "wasm", "--wasm-memory", "0"}, "--wasm-memory 0: must be in [4, 4096]"},
	}
	for _, c := range cases {
		_, err := runCLI(t, append([]string{"generate", "-m", storiesGGUF}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shear generate %s: error %v, want one containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if _, err := runCLI(t, "generate", "-m", storiesGGUF, "-n", "2047"); err != nil {
		t.Errorf("the whole context is refused: %v", err)
	}
}

// TestGraphDotJSON (#19.4): with --json, `graph --format dot` prints one
// JSON object (the dot text inside) rather than bare dot.
func TestGraphDotJSON(t *testing.T) {
	needShared(t)
	res := mustRun(t, "graph", "-m", storiesGGUF, "--format", "dot")
	if dot, _ := res["dot"].(string); !strings.HasPrefix(dot, "digraph") {
		t.Errorf("graph --format dot --json gave %.80v", res)
	}
}

// TestTokenizePositional (#19.4): the text may be the argument, and
// --bos prepends BOS.
func TestTokenizePositional(t *testing.T) {
	needShared(t)
	a := mustRun(t, "tokenize", "-m", storiesGGUF, "-p", "Once upon a time")
	b := mustRun(t, "tokenize", "-m", storiesGGUF, "Once upon a time")
	c := mustRun(t, "tokenize", "-m", storiesGGUF, "--bos", "Once upon a time")
	if fmt.Sprint(a["tokens"]) != fmt.Sprint(b["tokens"]) || len(a["tokens"].([]any)) == 0 {
		t.Errorf("-p gives %v, the argument %v", a["tokens"], b["tokens"])
	}
	if got, want := fmt.Sprint(c["tokens"].([]any)[1:]), fmt.Sprint(a["tokens"]); got != want || c["tokens"].([]any)[0].(float64) != 1 {
		t.Errorf("--bos gives %v, want BOS (1) then %v", c["tokens"], a["tokens"])
	}
}

// TestDefaultFlagsBuildDefaultRequests: the requests the flags build
// before anything is changed are the application layer's Default()s (the
// paths, checkpoints and memory budget a run adds aside), so the CLI and the Go API
// start from the same defaults.
func TestDefaultFlagsBuildDefaultRequests(t *testing.T) {
	ft := defaultFinetune()
	ft.Data.Data, ft.Output = "text.txt", "out"
	r, err := ft.request()
	if err != nil {
		t.Fatal(err)
	}
	r.Data, r.Output = app.DataFiles{}, ""
	if want := (app.FinetuneRequest{}.Default()); !reflect.DeepEqual(r, want) {
		t.Errorf("finetune's flags build\n%+v\nwant\n%+v", r, want)
	}
	ls := defaultLorashear()
	lr, err := ls.request("report")
	if err != nil {
		t.Fatal(err)
	}
	if lr.Prune.Checkpoint != filepath.Join("report", "prune.ckpt") || lr.Recover.Checkpoint != filepath.Join("report", "recover.ckpt") {
		t.Errorf("checkpoints %q, %q", lr.Prune.Checkpoint, lr.Recover.Checkpoint)
	}
	lr.Prune.Checkpoint, lr.Recover.Checkpoint = "", ""
	// The memory budget is the machine's (3/4 of its RAM), which a run
	// adds like its paths.
	if got, want := lr.Prune.Memory, physicalRAM()/4*3; got != want {
		t.Errorf("memory budget %d, want 3/4 of physical RAM = %d", got, want)
	}
	lr.Prune.Memory = 0
	if want := (app.LoRAShearRequest{}.Default()); !reflect.DeepEqual(lr, want) {
		t.Errorf("lorashear's flags build\n%+v\nwant\n%+v", lr, want)
	}
}
