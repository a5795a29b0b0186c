package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wasipy/wasipy/interp"
)

// Promise: the example program builds on its own and does what its doc
// says: a Go module called from async Python, awaited from Go, with
// Python's output streamed line by line.
func TestEmbedExampleRuns(t *testing.T) {
	wasm := interp.PythonWasm()
	if _, err := os.Stat(wasm); err != nil {
		t.Skipf("no interpreter at %s (set WASIPY_PYTHON_WASM)", wasm)
	}
	bin := filepath.Join(t.TempDir(), "embed")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WASIPY_PYTHON_WASM="+wasm)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := strings.Join([]string{
		"python says: oslo: 7.0",
		"python says: paris: 18.5",
		"python says: atlantis: UnknownCity('atlantis')",
		"Go got: map[oslo:7 paris:18.5]",
		"most common: [[to 2]]",
		"Python raised: UnknownCity atlantis",
	}, "\n") + "\n"
	if string(out) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
}
