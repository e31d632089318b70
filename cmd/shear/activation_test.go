package main

import (
	"path/filepath"
	"testing"
)

// TestPruneActivationMethods: prune --method wanda-sp and flap remove the
// target and write a model that info reads, FLAP's with output biases.
func TestPruneActivationMethods(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	for _, method := range []string{"wanda-sp", "flap"} {
		p := filepath.Join(dir, method+".gguf")
		res := mustRun(t, "prune", "-m", storiesGGUF, "--method", method, "--target", "0.2", "--data", tinyText,
			"--ctx", "64", "--recover-steps", "0", "-o", p)
		if r := res["ratio"].(float64); r < 0.19 || r > 0.21 {
			t.Errorf("%s: ratio %v", method, r)
		}
		info := mustRun(t, "info", "-m", p)
		if info["params"] != res["params_after"] || info["out_bias"] != (method == "flap") {
			t.Errorf("%s: info params %v out_bias %v, prune params %v", method, info["params"], info["out_bias"], res["params_after"])
		}
	}
}
