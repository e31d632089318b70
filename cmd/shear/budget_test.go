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

// TestLorashearStages: --json lists the pipeline's stages in order, each
// with its time and peak memory, and the training stages with the tokens
// their steps saw.
func TestLorashearStages(t *testing.T) {
	needShared(t)
	dir := t.TempDir()
	res := mustRun(t, "lorashear", "-m", storiesGGUF, "--data", tinyText, "--instruct", instructFile, "--target", "0.2",
		"--lhspg-warmup", "2", "--period-steps", "1", "--recover-steps", "3", "--instruct-steps", "2", "--ctx", "64", "--batch", "2",
		"--calib-seqs", "2", "--eval-chunks", "1", "-o", filepath.Join(dir, "p.gguf"))
	stages := checkStages(t, res, []string{"load", "eval-dense", "prune", "analyze", "lhspg", "compress", "recover-setup",
		"recover-1", "recover-2", "eval-pruned", "write"})
	if got := stages["lhspg"]; got != (2+4*1)*2*64 {
		t.Errorf("lhspg tokens %v, want 6 steps × 2 × 64 = 768", got)
	}
	if got := stages["analyze"]; got != 2*64 {
		t.Errorf("analyze tokens %v, want 2 calibration sequences × 64 = 128", got)
	}
	if got := stages["recover-1"]; got <= 0 || got > 3*2*64 {
		t.Errorf("recover-1 tokens %v, want in (0, 3 × 2 × 64]", got)
	}
	if got := stages["recover-2"]; got <= 0 || got > 2*2*64 {
		t.Errorf("recover-2 tokens %v, want in (0, 2 × 2 × 64]", got)
	}
}

// checkStages requires res's stages to be want in order, each with a
// time and a peak memory at most the process's peak; it returns each
// stage's tokens.
func checkStages(t *testing.T, res map[string]any, want []string) map[string]float64 {
	t.Helper()
	list, ok := res["stages"].([]any)
	if !ok {
		t.Fatalf("no stages in the --json output: %v", res)
	}
	peak := res["peak_rss_bytes"].(float64)
	var names []string
	tokens := map[string]float64{}
	for _, s := range list {
		st := s.(map[string]any)
		name := st["stage"].(string)
		names = append(names, name)
		if s, ok := st["seconds"].(float64); !ok || s < 0 {
			t.Errorf("stage %s: %v s", name, s)
		}
		if p := st["peak_rss_bytes"].(float64); p < 1<<20 || p > peak {
			t.Errorf("stage %s: peak %v bytes, process peak %v", name, p, peak)
		}
		if n, ok := st["tokens"].(float64); ok {
			tokens[name] = n
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("stages %v, want %v", names, want)
	}
	return tokens
}
