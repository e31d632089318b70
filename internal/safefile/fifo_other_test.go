//go:build !unix

package safefile

func makeFIFO(string) (string, bool) { return "", false }
