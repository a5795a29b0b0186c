package history

import (
	"os"
	"path/filepath"
)

// DefaultDir is the host's history directory: $WASIPY_DATA_DIR/history,
// else $XDG_DATA_HOME/wasipy/history, else ~/.local/share/wasipy/history
// (the data directory interp uses for python.wasm). A relative
// XDG_DATA_HOME is ignored, as the XDG spec asks.
func DefaultDir() string {
	if d := os.Getenv("WASIPY_DATA_DIR"); d != "" {
		return filepath.Join(d, "history")
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wasipy", "history")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "wasipy", "history")
}
