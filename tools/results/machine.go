package main

import (
	"bufio"
	"os"
	"os/exec"
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
	Dirty  bool   // uncommitted changes in the tree
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
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		m.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	return m
}

// version is the commit as cache keys use it.
func (m machine) version() string {
	if m.Dirty {
		return m.Commit + "-dirty"
	}
	return m.Commit
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
