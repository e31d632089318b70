package protocol

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shear-ai/shear/runtime/eval"
	"github.com/shear-ai/shear/runtime/train"
)

// TestPruneDataCut: the one cut of calibration data, for each source.
func TestPruneDataCut(t *testing.T) {
	seqs := func(first, n int) []train.Example {
		var out []train.Example
		for i := range n {
			out = append(out, train.Example{Tokens: []int{first + i}, Targets: []int{first + i}})
		}
		return out
	}
	text, ins, calib := seqs(0, 10), seqs(100, 3), seqs(200, 5)
	// A calibration file: its first sequences; all text and instructions train.
	d := CutPruneData(text, ins, calib, 2, 1)
	if !reflect.DeepEqual(d.Calib, calib[:2]) || !reflect.DeepEqual(d.Train, append(append([]train.Example(nil), text...), ins...)) {
		t.Errorf("with a calibration file: calib %v, train %v", d.Calib, d.Train)
	}
	// Held out of the text, as train.Split draws them with seed+7.
	d = CutPruneData(text, ins, nil, 2, 1)
	rest, held := train.Split(text, 0.2, 8)
	if !reflect.DeepEqual(d.Calib, held) || len(held) != 2 || !reflect.DeepEqual(d.Train, append(rest, ins...)) {
		t.Errorf("held out of the text: calib %v (want %v), train %v", d.Calib, held, d.Train)
	}
	// Text no longer than the calibration set: the first instructions.
	d = CutPruneData(text[:2], ins, nil, 2, 1)
	if !reflect.DeepEqual(d.Calib, ins[:2]) || len(d.Train) != 5 {
		t.Errorf("short text: calib %v, train %v", d.Calib, d.Train)
	}
}

// TestSplitText: the three parts tile the text in order, each cut right
// after the first blank line past 10% and 20% of the bytes.
func TestSplitText(t *testing.T) {
	var paras []string
	for i := range 40 {
		paras = append(paras, strings.Repeat(fmt.Sprint(i%10), 7+i%5))
	}
	text := strings.Join(paras, "\n\n") + "\n"
	s := SplitText(text)
	if s.Test+s.Validation+s.Train != text {
		t.Fatal("the parts do not tile the text")
	}
	for _, c := range []struct {
		name string
		head string
		frac float64
	}{{"test", s.Test, 0.1}, {"test+validation", s.Test + s.Validation, 0.2}} {
		at := int(float64(len(text)) * c.frac)
		want := at + strings.Index(text[at:], "\n\n") + 2
		if len(c.head) != want || !strings.HasSuffix(c.head, "\n\n") {
			t.Errorf("%s ends at byte %d, want %d (the blank line after byte %d)", c.name, len(c.head), want, at)
		}
	}
	val, test := SplitHeldOut(text)
	if val+test != text || !strings.HasSuffix(val, "\n\n") || len(val) < len(text)/2 || len(val) > len(text)/2+20 {
		t.Errorf("held-out halves of %d and %d bytes", len(val), len(test))
	}
	if s := SplitText("no blank line at all"); s.Test+s.Validation+s.Train != "no blank line at all" || len(s.Test) != 2 {
		t.Errorf("without paragraphs: %q", s)
	}
}

func TestSplitMC(t *testing.T) {
	var items []eval.MCItem
	for i := range 5 {
		items = append(items, eval.MCItem{Context: fmt.Sprint(i)})
	}
	val, test := SplitMC(items)
	got := func(its []eval.MCItem) (s string) {
		for _, it := range its {
			s += it.Context
		}
		return s
	}
	if got(val) != "024" || got(test) != "13" {
		t.Errorf("validation %q, test %q; want 024 and 13", got(val), got(test))
	}
}

func TestDropQuoting(t *testing.T) {
	ins := []train.Instruction{
		{Input: "a sentence of the test text, long enough", Output: "x"},
		{Input: "y", Output: "  a sentence of the validation text  "},
		{Input: "short", Output: "text"}, // under 20 bytes: not telling
		{Input: "a sentence found nowhere else at all", Output: "z"},
	}
	kept, dropped := DropQuoting(ins, "… a sentence of the test text, long enough …", "and a sentence of the validation text too; short text")
	if dropped != 2 || len(kept) != 2 || kept[0] != ins[2] || kept[1] != ins[3] {
		t.Errorf("kept %v, dropped %d", kept, dropped)
	}
}
