package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLorashearBudget: --budget scales the step counts not given
// explicitly, the explicit ones run as given, and the run reports (in
// --json and report.json) and runs the counts it says.
func TestLorashearBudget(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "p.gguf")
	// --budget 0.05: LHSPG ×√0.05 = 0.224 → warm-up and periods 20 → 4;
	// recovery's stage 1 given (3), stage 2 given (0); --lr given, so
	// recovery's rate is not scaled.
	res := mustRun(t, "lorashear", "-m", storiesGGUF, "--data", tinyText, "--target", "0.2", "--budget", "0.05",
		"--recover-steps", "3", "--instruct-steps", "0", "--lr", "2e-3", "--ctx", "32", "--batch", "2", "--calib-seqs", "2",
		"--eval-chunks", "1", "-o", out)
	b, ok := res["budget"].(map[string]any)
	if !ok {
		t.Fatalf("no budget in the --json output: %v", res)
	}
	for k, want := range map[string]float64{"scale": 0.05, "lhspg_warmup": 4, "periods": 4, "period_steps": 4,
		"recover_steps": 3, "instruct_steps": 0, "recover_lr": 2e-3} {
		if got := b[k].(float64); got != want {
			t.Errorf("budget %s = %v, want %v", k, got, want)
		}
	}
	var explicit []string
	for _, e := range b["explicit"].([]any) {
		explicit = append(explicit, e.(string))
	}
	if want := []string{"recover-steps", "instruct-steps", "recover-lr"}; !slices.Equal(explicit, want) {
		t.Errorf("explicit %v, want %v", explicit, want)
	}
	js, err := os.ReadFile(filepath.Join(dir, "p-report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Budget struct {
			Warmup int `json:"lhspg_warmup"`
		} `json:"budget"`
		Report struct {
			Log []struct{} `json:"log"`
		} `json:"report"`
		Recovery struct {
			Stage1 struct {
				Steps int `json:"steps"`
			} `json:"stage1"`
		} `json:"recovery"`
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Budget.Warmup != 4 || len(rep.Report.Log) != 4+4*4 || rep.Recovery.Stage1.Steps != 3 {
		t.Errorf("report.json: warm-up %d, %d LHSPG steps run, %d recovery steps run; want 4, 20, 3",
			rep.Budget.Warmup, len(rep.Report.Log), rep.Recovery.Stage1.Steps)
	}
}
