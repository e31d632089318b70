package host

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/simd"
)

func kernelByName(name string) kernel {
	for _, k := range kernels {
		if k.name == name {
			return k
		}
	}
	panic(name)
}

// TestKernelViews runs host kernels on guest memory directly: aligned
// views and misaligned copies give the native result, and a range outside
// the memory panics (which traps the instance) instead of touching host
// memory.
func TestKernelViews(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Options{Mode: HostKernels, CacheDir: filepath.Join(os.TempDir(), "shear-wazero-cache")})
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
	const rows, cols = 13, 37
	rng := rand.New(rand.NewPCG(1, 2))
	w, x := make([]float32, rows*cols), make([]float32, cols)
	for i := range w {
		w[i] = rng.Float32() - 0.5
	}
	for i := range x {
		x[i] = rng.Float32() - 0.5
	}
	want := make([]float32, rows)
	simd.MatVec(want, w, x, rows, cols)
	enc := func(v []float32) []byte {
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		return b
	}
	for _, shift := range []uint32{0, 1, 2} {
		size := 4*(rows*cols+cols+rows) + 16
		base, err := e.put(ctx, inst, make([]byte, size))
		if err != nil {
			t.Fatal(err)
		}
		pw := base + shift
		px := pw + 4*rows*cols
		po := px + 4*cols
		inst.mem.Write(pw, enc(w))
		inst.mem.Write(px, enc(x))
		kernelByName("matvec").fn(inst.mem, []uint64{uint64(po), uint64(pw), uint64(px), rows, cols})
		out, _ := inst.mem.Read(po, 4*rows)
		for i := range want {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:])); got != want[i] {
				t.Fatalf("shift %d: row %d = %v, want %v", shift, i, got, want[i])
			}
		}
	}
	size := inst.mem.Size()
	for _, args := range [][]uint64{
		{uint64(size - 8), 0, 0, rows, cols}, // out past the end
		{0, uint64(size - 100), 0, rows, cols},
		{0, 0, 0, 1 << 31, 1 << 31}, // sizes that overflow
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmtPanic(r), "shear_kernels") {
					t.Errorf("args %v: panic %v", args, r)
				}
			}()
			kernelByName("matvec").fn(inst.mem, args)
		}()
	}
}

func fmtPanic(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	return ""
}
