package history

import (
	"os"
	"path/filepath"
	"strings"
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

// Within reports whether path is root or lies below it, after making both
// absolute and resolving symbolic links (of the longest existing prefix).
// A kernel should not use a history directory that is Within a folder the
// guest can see (its preopened directories): user code could rewrite it.
func Within(path, root string) bool {
	p, r := resolve(path), resolve(root)
	rel, err := filepath.Rel(r, p)
	if err != nil {
		return false
	}
	return rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolve makes p absolute and resolves the links of its longest existing
// prefix, keeping the rest as written.
func resolve(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
