//go:build (!amd64 || noasm) && !(wasip1 && shearhost)

package quant

// Builds without the VNNI prefill kernels (prefill_vnni_amd64.go).

type vnniActs struct{}

func vnniUnit(n int) int { return 4 }

func (t *mmTask) prepareVNNI() {}

func (t *mmTask) releaseVNNI() {}

func (t *mmTask) runVNNI(r0, r1 int) int { return r0 }
