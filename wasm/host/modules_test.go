package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite modules.txt (make wasm does, after building the modules)")

// TestModulesUpToDate checks that the embedded modules were built from the
// current sources: modules.txt, written by `make wasm`, records a hash of
// every source file the guest compiles from (per build tag set) and the
// hash of each module; the test recomputes both. Rebuilding the modules
// here would take a minute on a cold cache; hashing the sources takes a
// second.
func TestModulesUpToDate(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `make wasm`; checked by TestModulesUpToDate. Built with %s.\n", runtime.Version())
	for _, mod := range []struct {
		name string
		mode Mode
		tags string
	}{{"shear.wasm", Pure, ""}, {"shear-host.wasm", HostKernels, "shearhost"}} {
		bin, err := Module(mod.mode)
		if err != nil {
			t.Fatal(err)
		}
		src, err := sourceHash(mod.tags)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s size %d sha256 %x sources %s\n", mod.name, len(bin), sha256.Sum256(bin), src)
	}
	want := b.String()
	if *update {
		if err := os.WriteFile("modules.txt", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("modules.txt")
	if err != nil {
		t.Fatal(err)
	}
	// The first line names the Go version that built the modules.
	_, haveBody, _ := strings.Cut(string(have), "\n")
	_, wantBody, _ := strings.Cut(want, "\n")
	if haveBody != wantBody {
		t.Fatalf("the embedded wasm modules are out of date: run `make wasm` and commit wasm/host/*.wasm.gz and modules.txt\nrecorded:\n%scurrent:\n%s", haveBody, wantBody)
	}
}

// sourceHash hashes the non-standard-library Go and assembly files the
// guest compiles from for GOOS=wasip1 GOARCH=wasm with the given tags,
// with the build flags of the Makefile's wasm target.
func sourceHash(tags string) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-tags", tags, "-json=ImportPath,Dir,Standard,GoFiles,SFiles,EmbedFiles,Module", "../guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	type pkg struct {
		ImportPath, Dir             string
		Standard                    bool
		GoFiles, SFiles, EmbedFiles []string
		Module                      *struct{ Path, Version string }
	}
	h := sha256.New()
	fmt.Fprintf(h, "flags -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-s -w tags=%q\n", tags)
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", err
		}
		if !p.Standard {
			pkgs = append(pkgs, p)
		}
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].ImportPath < pkgs[j].ImportPath })
	for _, p := range pkgs {
		if p.Module != nil && p.Module.Version != "" {
			fmt.Fprintf(h, "%s %s\n", p.ImportPath, p.Module.Version) // a versioned dependency
			continue
		}
		files := append(append(append([]string(nil), p.GoFiles...), p.SFiles...), p.EmbedFiles...)
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s/%s %d %x\n", p.ImportPath, f, len(b), sha256.Sum256(b))
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:16]), nil
}
