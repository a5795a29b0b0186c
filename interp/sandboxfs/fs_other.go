//go:build !linux

package sandboxfs

import (
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// New fails outside Linux with ErrUnsupported: without openat2's
// RESOLVE_BENEATH there is no fence around a host folder, and an unfenced
// mount is worse than none.
func New(dir string, o Options) (experimentalsys.FS, error) {
	return nil, ErrUnsupported
}
