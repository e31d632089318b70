package main

import (
	"strings"
	"testing"
)

func TestSpliceTable(t *testing.T) {
	doc := "intro\n" + beginMarker + "\nold table\n" + endMarker + "\nrest\n"
	got, err := spliceTable([]byte(doc), "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + beginMarker + "\nnew table\n" + endMarker + "\nrest\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"no markers", endMarker + beginMarker, beginMarker + " only"} {
		if _, err := spliceTable([]byte(bad), "x"); err == nil || !strings.Contains(err.Error(), "markers") {
			t.Errorf("%q: err %v, want one naming the markers", bad, err)
		}
	}
}
