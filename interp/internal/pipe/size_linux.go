package pipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// bigPipe is the pipe buffer Enlarge asks for: Linux's default is 64 KiB,
// so a 256 MiB buffer would cross in 4096 rounds of "writer fills, reader
// wakes". 1 MiB is the most an unprivileged process gets by default
// (/proc/sys/fs/pipe-max-size).
const bigPipe = 1 << 20

// Enlarge asks the kernel for a bigger buffer on the pipe f is an end of.
// It is only a speed-up: where it is refused (a lower pipe-max-size, the
// user's pipe quota spent) the pipe keeps the size it had.
func Enlarge(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// SyscallConn, unlike Fd, leaves the file in non-blocking mode, so
	// reads and writes keep going through Go's poller.
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, bigPipe)
	})
}
