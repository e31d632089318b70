package app

import (
	"reflect"
	"testing"

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
	d := pruneData(text, ins, calib, 2, 1)
	if !reflect.DeepEqual(d.Calib, calib[:2]) || !reflect.DeepEqual(d.Train, append(append([]train.Example(nil), text...), ins...)) {
		t.Errorf("with a calibration file: calib %v, train %v", d.Calib, d.Train)
	}
	// Held out of the text, as train.Split draws them with seed+7.
	d = pruneData(text, ins, nil, 2, 1)
	rest, held := train.Split(text, 0.2, 8)
	if !reflect.DeepEqual(d.Calib, held) || len(held) != 2 || !reflect.DeepEqual(d.Train, append(rest, ins...)) {
		t.Errorf("held out of the text: calib %v (want %v), train %v", d.Calib, held, d.Train)
	}
	// Text no longer than the calibration set: the first instructions.
	d = pruneData(text[:2], ins, nil, 2, 1)
	if !reflect.DeepEqual(d.Calib, ins[:2]) || len(d.Train) != 5 {
		t.Errorf("short text: calib %v, train %v", d.Calib, d.Train)
	}
}
