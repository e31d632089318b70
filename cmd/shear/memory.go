package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// physicalRAM is MemTotal of /proc/meminfo in bytes (0 where unknown).
func physicalRAM() int64 { return procBytes("/proc/meminfo", "MemTotal:") }

// procBytes reads a "Key: N kB" line of a /proc file as bytes (0 where
// the file or the key is missing).
func procBytes(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// memoryBudget parses --memory ("6GiB", "800MB", "1.5G", bytes; "0":
// none); empty is 3/4 of physical RAM. A budget also becomes the Go
// runtime's soft memory limit, so garbage is collected before the heap
// outgrows it.
func memoryBudget(s string) (int64, error) {
	var n int64
	if s == "" {
		n = physicalRAM() / 4 * 3
	} else {
		v, err := parseBytes(s)
		if err != nil {
			return 0, fmt.Errorf("--memory %q: %v", s, err)
		}
		n = v
	}
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return n, nil
}

func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("want a size such as 6GiB, 800MB or 0")
	}
	return int64(v * mult), nil
}
