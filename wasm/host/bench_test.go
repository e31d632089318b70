package host_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shear-ai/shear/wasm/host"
)

// BenchmarkEngines measures decode tokens/s of the three engines on
// stories260K and on a random 15M-shape model (f16), as ratios to native
// measured in the same run. Each engine decodes 32 tokens after BOS, as
// runtime/model's BenchmarkDecode does; the best of several interleaved
// rounds counts, so that a busy machine penalises every engine alike.
func BenchmarkEngines(b *testing.B) {
	ctx := context.Background()
	models := []struct {
		name string
		gguf []byte
	}{
		{"stories260K", readShared(b, "models/stories260K.gguf")},
		{"15M-f16", random15M(b)},
	}
	const steps, rounds = 32, 3
	for _, mc := range models {
		loaded := map[host.Mode]*host.Model{}
		for _, mode := range modes {
			m, err := engine(b, mode).Load(ctx, mc.gguf, host.LoadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			loaded[mode] = m
		}
		best := map[host.Mode]float64{}
		for r := 0; r < rounds; r++ {
			for _, mode := range modes {
				res, err := loaded[mode].Generate(ctx, host.GenerateRequest{N: steps, IgnoreEOS: true})
				if err != nil {
					b.Fatal(err)
				}
				best[mode] = max(best[mode], float64(len(res.Tokens)-1)/res.Seconds)
			}
		}
		for _, mode := range modes {
			b.Run(fmt.Sprintf("%s/%s", mc.name, mode), func(b *testing.B) {
				b.ReportMetric(best[mode], "tok/s")
				b.ReportMetric(best[mode]/best[host.Native], "x-native")
			})
		}
	}
}
