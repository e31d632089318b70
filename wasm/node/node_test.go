package node

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
)

func TestNodeGreedy(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	var ref struct {
		Generated []int `json:"generated_tokens"`
	}
	b, err := os.ReadFile(testshared.Path(t, "reference/stories260K-greedy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	const n = 64
	cmd := exec.Command(node, "--no-warnings", "greedy.mjs", testshared.Path(t, "models/stories260K.gguf"), "64")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got struct {
		Vocab  int    `json:"vocab"`
		Tokens []int  `json:"tokens"`
		Text   string `json:"text"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("node printed %q: %v", stdout.String(), err)
	}
	if len(got.Tokens) != n {
		t.Fatalf("%d tokens, want %d", len(got.Tokens), n)
	}
	for i, tok := range got.Tokens {
		if tok != ref.Generated[i] {
			t.Fatalf("token %d: node ran %v, llama.cpp's reference %v", i, got.Tokens[:i+1], ref.Generated[:i+1])
		}
	}
	t.Logf("node %s: %d tokens match llama.cpp's greedy reference: %.50q…", nodeVersion(node), n, got.Text)
}

func nodeVersion(node string) string {
	out, _ := exec.Command(node, "--version").Output()
	return string(bytes.TrimSpace(out))
}
