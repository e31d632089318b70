package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// machine describes where the results were measured.
type machine struct {
	CPUs   int
	Arch   string
	CPU    string // model name from /proc/cpuinfo
	Load   string // /proc/loadavg at the start
	Commit string // git rev-parse --short HEAD
	Code   string // the last commit that changed what the driver is built from (see codeCommit)
	Dirty  bool   // uncommitted changes in what the driver is built from
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Arch: runtime.GOARCH, CPU: "unknown", Load: "unknown", Commit: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	m.Code, m.Dirty = codeCommit()
	return m
}

// codeCommit is the last commit that changed a package this driver links
// (go list -deps, the module's own packages) or go.mod/go.sum, and whether
// any of those files has uncommitted changes. Results depend on that code
// and nothing else of the tree, so commits that touch only docs/, cmd/ or
// wasm/ keep the cache and the report valid; RESULTS.md names both this
// commit and HEAD.
func codeCommit() (commit string, dirty bool) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "github.com/shear-ai/shear/tools/results").Output()
	if err != nil {
		return "unknown", true
	}
	paths := []string{":(top)go.mod", ":(top)go.sum"}
	for _, dir := range strings.Fields(string(out)) {
		// Only the package's own files: a subdirectory is another package,
		// listed by itself if the driver links it.
		paths = append(paths, ":(top,glob)"+relDir(dir)+"/*")
	}
	args := append([]string{"log", "-1", "--format=%h", "--"}, paths...)
	if out, err := exec.Command("git", args...).Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		commit = strings.TrimSpace(string(out))
	} else {
		return "unknown", true
	}
	args = append([]string{"status", "--porcelain", "--untracked-files=no", "--"}, paths...)
	if out, err := exec.Command("git", args...).Output(); err == nil {
		dirty = len(strings.TrimSpace(string(out))) > 0
	}
	return commit, dirty
}

// relDir is dir relative to the repository's top level.
func relDir(dir string) string {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return dir
	}
	rel, err := filepath.Rel(strings.TrimSpace(string(top)), dir)
	if err != nil {
		return dir
	}
	return filepath.ToSlash(rel)
}

// version is the code's commit as cache keys use it.
func (m machine) version() string {
	if m.Dirty {
		return m.Code + "-dirty"
	}
	return m.Code
}

// cpuSeconds is the process's user + system CPU time: what the runs cost
// on a loaded machine, where wall time mostly measures the other jobs.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
