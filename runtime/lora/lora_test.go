package lora

import (
	"testing"

	"github.com/shear-ai/shear/runtime/model"
)

// TestTargetsAreTheTable: the targets are exactly the table's adaptable
// kinds, with the table's names, and each one reaches its layer matrix.
func TestTargetsAreTheTable(t *testing.T) {
	kinds := model.LoRAKinds()
	if len(kinds) != int(NumTargets) {
		t.Fatalf("the table has %d adaptable kinds, lora %d targets", len(kinds), NumTargets)
	}
	c := model.UniformConfig(16, 24, 1, 4, 2, 30, 32)
	m, err := model.NewRandom(c, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		tg, ok := TargetOf(k)
		if !ok || tg.Kind() != k || tg.String() != k.Info().LoRA || PEFTNames[tg] != k.Info().PEFT {
			t.Errorf("kind %s: target %v %v", k.Name(0), tg, ok)
		}
		ref, err := m.Tensor(k.Name(0))
		if err != nil || tg.Weight(&m.Blocks[0]) != *ref.Mat {
			t.Errorf("%s: Weight is not the table's matrix (%v)", k.Name(0), err)
		}
	}
	if got, err := ParseTargets("q,self_attn.k_proj,down_proj"); err != nil || len(got) != 3 || got[0] != Q || got[1] != K || got[2] != Down {
		t.Errorf("ParseTargets = %v, %v", got, err)
	}
	if _, err := ParseTargets("q,attn_norm"); err == nil {
		t.Error("a norm accepted as a LoRA target")
	}
}
