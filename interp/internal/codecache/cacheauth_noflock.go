//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package codecache

import (
	"errors"
	"os"
	"time"
)

// Without flock the manifest cannot be updated safely by concurrent
// kernels, so the cache is not used (every start compiles).
func lockCacheDir(string, time.Duration) (*os.File, error) {
	return nil, errors.New("no file locking on this platform")
}

func unlockCacheDir(f *os.File) { f.Close() }

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }
