//go:build !linux

package sandboxfs

import (
	"errors"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// New fails outside Linux: without openat2's RESOLVE_BENEATH there is no
// fence around a host folder, and an unfenced mount is worse than none.
func New(dir string, o Options) (experimentalsys.FS, error) {
	return nil, errors.New("mounting a host folder in the sandbox needs Linux (openat2 with RESOLVE_BENEATH)")
}
