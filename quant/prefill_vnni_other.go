//go:build (!amd64 || noasm) && !(wasip1 && shearhost)

package quant

// Builds without the VNNI prefill kernel (prefill_vnni_amd64.go).

func (t *mmTask) prepareVNNI() {}

func (t *mmTask) releaseVNNI() {}

func (t *mmTask) runVNNI(r0, r1 int) bool { return false }
