package interp

import (
	"os"
	"path/filepath"
	"testing"
)

// The default interpreter is the built one when build/python/build.sh
// installed it, else the npm one; $WASIPY_PYTHON_WASM overrides both.
func TestDefaultPythonWasmPrefersTheBuiltOne(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASIPY_DATA_DIR", data)
	t.Setenv("WASIPY_PYTHON_WASM", "")
	npm := filepath.Join(data, "python.wasm")
	built := filepath.Join(data, BuiltDir, "python.wasm")

	// Nothing installed: the npm path, so the error names a real place.
	if got := DefaultPythonWasm(); got != npm {
		t.Fatalf("nothing installed: got %s, want %s", got, npm)
	}
	if err := os.WriteFile(npm, []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultPythonWasm(); got != npm {
		t.Fatalf("npm only: got %s, want %s", got, npm)
	}
	// A folder (not a file) where the built module should be is not it.
	if err := os.MkdirAll(built, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := DefaultPythonWasm(); got != npm {
		t.Fatalf("a directory named python.wasm was taken for the built interpreter: %s", got)
	}
	if err := os.Remove(built); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(built, []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultPythonWasm(); got != built {
		t.Fatalf("both installed: got %s, want the built %s", got, built)
	}
	if got := PythonWasm(); got != built {
		t.Fatalf("PythonWasm without $WASIPY_PYTHON_WASM: got %s, want %s", got, built)
	}
	t.Setenv("WASIPY_PYTHON_WASM", "/elsewhere/python.wasm")
	if got := PythonWasm(); got != "/elsewhere/python.wasm" {
		t.Fatalf("$WASIPY_PYTHON_WASM ignored: got %s", got)
	}
}
