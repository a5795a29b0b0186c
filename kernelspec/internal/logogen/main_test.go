package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The committed PNGs must be what this generator draws: run
// `go generate ./kernelspec/` after changing the drawing.
func TestCommittedLogosAreCurrent(t *testing.T) {
	for _, size := range []int{32, 64} {
		want, err := Render(size)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join("..", "..", fmt.Sprintf("logo-%dx%d.png", size, size))
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate ./kernelspec/", name)
		}
	}
}
