//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package codecache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockCacheDir takes an exclusive flock on path, waiting at most wait.
// The lock keeps two workers from updating the manifest at once (one
// would lose the other's entries) and lets a worker that starts while
// another compiles wait for its result instead of compiling too. It
// protects consistency, not trust: an entry is trusted only because it
// verifies, so a lock file someone else replaced costs entries, never
// safety.
func lockCacheDir(path string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another kernel after %s", path, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func unlockCacheDir(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// openNoFollow opens path for reading, refusing a symbolic link as its
// last component (and never blocking on a FIFO).
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
