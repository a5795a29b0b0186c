package sandboxfs

import (
	"errors"
	"path/filepath"
	"strings"
)

// ErrUnsupported is New's error where the system offers no fence
// (openat2 with RESOLVE_BENEATH, Linux 5.6 and later).
var ErrUnsupported = errors.New("mounting a host folder in the sandbox needs Linux 5.6 or later (openat2 with RESOLVE_BENEATH)")

// Options says what a mount holds beyond its root.
type Options struct {
	// ReadOnly refuses every change beneath the mount with EROFS.
	ReadOnly bool
	// Hidden are host paths the guest must never reach, whatever name it
	// uses: not listed, opened, written, renamed or removed, and neither
	// are the folders that hold them removed or renamed.
	Hidden []string
	// ReadOnlyPaths are host paths beneath a writable mount that stay
	// read-only through every name that reaches them.
	ReadOnlyPaths []string
	// Quota caps what the guest adds; nil for none.
	Quota *Quota
	// Log receives one line for each refusal that a user may wonder about
	// (a link that leaves the mount, a hidden path, a FIFO). Nil: silent.
	Log func(msg string)
}

// access is what the guest may do with one host path.
type access struct {
	visible  bool // beneath the root and not hidden
	writable bool // its contents may change (for a folder: entries added or removed inside)
	pinned   bool // holds a hidden or read-only path beneath it: never removed or renamed itself
}

// policy classifies real host paths (as the kernel reports them for an open
// descriptor). Paths are cleaned and absolute; links already resolved.
type policy struct {
	root     string
	readOnly bool
	hidden   []string
	roPaths  []string
}

func newPolicy(root string, o Options) policy {
	p := policy{root: root, readOnly: o.ReadOnly}
	for _, h := range o.Hidden {
		for _, h := range realOrClean(h) {
			// A hidden folder that holds the whole mount hides nothing
			// more than the fence already does (nothing outside the root
			// is reachable); keeping it would hide the mount itself.
			if !beneath(root, h) {
				p.hidden = append(p.hidden, h)
			}
		}
	}
	for _, r := range o.ReadOnlyPaths {
		p.roPaths = append(p.roPaths, realOrClean(r)...)
	}
	return p
}

// realOrClean gives both the path as written and, when it exists, its real
// path: hiding either name covers a folder reached through a link.
func realOrClean(p string) []string {
	if p == "" || !filepath.IsAbs(p) {
		return nil
	}
	out := []string{filepath.Clean(p)}
	if r, err := filepath.EvalSymlinks(p); err == nil && r != out[0] {
		out = append(out, r)
	}
	return out
}

// beneath reports whether p is dir or inside it.
func beneath(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func (p policy) classify(real string) access {
	if !beneath(real, p.root) {
		return access{}
	}
	a := access{visible: true, writable: !p.readOnly}
	for _, h := range p.hidden {
		if beneath(real, h) {
			return access{}
		}
		if beneath(h, real) {
			a.pinned = true
		}
	}
	for _, r := range p.roPaths {
		if beneath(real, r) {
			a.writable = false
		}
		if beneath(r, real) {
			a.pinned = true
		}
	}
	return a
}

// relPath turns the path wazero hands a mount into one relative to its root.
func relPath(p string) string {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return "."
	}
	return p
}
