package sandboxfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonymousFile is a file with no name on any disk.
func anonymousFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("wasipy-quota", unix.MFD_CLOEXEC)
	if err != nil {
		return tempFile()
	}
	return os.NewFile(uintptr(fd), "wasipy-quota"), nil
}
