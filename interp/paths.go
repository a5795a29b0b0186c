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

// BuiltDir is the data dir's folder where build/python/build.sh installs
// the CPython it builds (python.wasm with its lib/ beside it).
const BuiltDir = "python3.13"

// DefaultPythonWasm is the interpreter install.sh installed, in the data
// dir ($WASIPY_DATA_DIR, else $XDG_DATA_HOME/wasipy, else
// ~/.local/share/wasipy): the one built from Debian's sources
// (BuiltDir/python.wasm, the default since it runs 2-3x faster) when it is
// there, else the npm one (python.wasm, install.sh --prebuilt). A path is
// returned even when neither exists, so that the error names where the
// interpreter was looked for.
func DefaultPythonWasm() string {
	data := DataDir()
	built := filepath.Join(data, BuiltDir, "python.wasm")
	if st, err := os.Stat(built); err == nil && st.Mode().IsRegular() {
		return built
	}
	return filepath.Join(data, "python.wasm")
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
