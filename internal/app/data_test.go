package app

import (
	"fmt"
	"github.com/shear-ai/shear/internal/protocol"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shear-ai/shear/internal/testshared"
	"github.com/shear-ai/shear/runtime/model"
	"github.com/shear-ai/shear/runtime/tensor"
	"github.com/shear-ai/shear/runtime/train"
)

// TestCutLeavesOutHeldText: the data `shear recover --data` reads
// (DataFiles.cut) holds the training part of protocol.SplitText only, without the
// instructions that quote the test or validation part.
func TestCutLeavesOutHeldText(t *testing.T) {
	m, err := model.Load(testshared.Path(t, "models/stories260K.gguf"), model.LoadOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paras []string
	for i := range 60 {
		paras = append(paras, fmt.Sprintf("Story %03d: the cat sat in the sun and was happy.", i))
	}
	text := strings.Join(paras, "\n\n") + "\n"
	ins := fmt.Sprintf("{\"instruction\":\"Go on.\",\"input\":%q,\"output\":\"The end.\"}\n{\"instruction\":\"Go on.\",\"input\":%q,\"output\":\"The end.\"}\n", paras[1], paras[50])
	textPath, insPath := filepath.Join(dir, "text.txt"), filepath.Join(dir, "ins.jsonl")
	if err := os.WriteFile(textPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(insPath, []byte(ins), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := DataFiles{Text: textPath, Instruct: insPath}.cut(m, 256)
	if err != nil {
		t.Fatal(err)
	}
	d := protocol.CutPruneData(p.TrainText(m, 256), p.Instruct, nil, 2, 1)
	s := protocol.SplitText(text)
	var seen strings.Builder
	for _, ex := range append(append([]train.Example(nil), d.Train...), d.Calib...) {
		seen.WriteString(m.Tok.Decode(ex.Tokens))
	}
	trained, kept := 0, 0 // a training paragraph may straddle two sequences
	for i, p := range paras {
		id := p[:len("Story 000")]
		got := strings.Contains(seen.String(), id)
		if strings.Contains(s.Test+s.Validation, p) {
			if got {
				t.Errorf("held-out %s reaches training", id)
			}
		} else {
			trained++
			if got {
				kept++
			}
		}
		if i == 1 && !strings.Contains(s.Test, p) || i == 50 && !strings.Contains(s.Train, p) {
			t.Fatalf("the test's premise: paragraph %d is not where expected", i)
		}
	}
	if trained < 40 || kept < trained*4/5 {
		t.Errorf("%d of %d training paragraphs reach training", kept, trained)
	}
	if n := strings.Count(seen.String(), "Go on."); n != 1 {
		t.Errorf("%d instructions train, want 1 (the one quoting the test text dropped)", n)
	}
}
