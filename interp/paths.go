package interp

import (
	"os"
	"path/filepath"
)

// PythonWasm is the interpreter to use when none is given:
// $WASIPY_PYTHON_WASM, else DefaultPythonWasm.
func PythonWasm() string {
	if p := os.Getenv("WASIPY_PYTHON_WASM"); p != "" {
		return p
	}
	return DefaultPythonWasm()
}

// DefaultPythonWasm is where install.sh keeps the default interpreter:
// $WASIPY_DATA_DIR, else $XDG_DATA_HOME/wasipy, else ~/.local/share/wasipy.
func DefaultPythonWasm() string {
	return filepath.Join(DataDir(), "python.wasm")
}

// DataDir is where install.sh keeps the interpreter and the kernel binary:
// $WASIPY_DATA_DIR, else $XDG_DATA_HOME/wasipy, else ~/.local/share/wasipy.
func DataDir() string {
	if d := os.Getenv("WASIPY_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "wasipy")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "wasipy")
}

// DefaultCacheDir holds compiled code: $XDG_CACHE_HOME/wasipy or ~/.cache/wasipy.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "wasipy")
	}
	return ""
}
