package app

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestPruneRequestWire pins the JSON names of the prune request (the wasm
// ABI): renaming a Go field must not silently change them, and a request
// survives the round trip through JSON unchanged.
func TestPruneRequestWire(t *testing.T) {
	req := PruneRequest{}.Default()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	for _, want := range []string{`"options":{"method":"lorashear","target":0.2,`, `"gamma":0.1`,
		`"lhspg":{"warmup":20,"periods":4,"period_steps":20,"variant":"projection"`,
		`"lora":{"rank":8,"alpha":16,"dropout":0.05,"targets":[`, `"batch":8,"ctx":128,"lr":0.001,"clip":1,"seed":1`} {
		if !strings.Contains(js, want) {
			t.Errorf("the wire form lacks %s:\n%s", want, js)
		}
	}
	var back PruneRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, req) {
		t.Errorf("round trip changed the request:\n%+v\n%+v", back, req)
	}
	if err := req.Options.Validate(); err != nil {
		t.Errorf("the default options are invalid: %v", err)
	}
}
