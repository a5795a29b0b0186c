//go:build unix

package sandboxfs

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const sharedSize = 4096

// newSharedCounters makes an anonymous file (never on any disk the guest
// could reach) and maps its first page.
func newSharedCounters() (*os.File, *[3]int64, error) {
	f, err := anonymousFile()
	if err != nil {
		return nil, nil, err
	}
	if err := f.Truncate(sharedSize); err != nil {
		f.Close()
		return nil, nil, err
	}
	c, err := mapSharedCounters(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, c, nil
}

func mapSharedCounters(f *os.File) (*[3]int64, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, sharedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	// The mapping lives as long as the process: a quota is made once per
	// kernel session or worker.
	return (*[3]int64)(unsafe.Pointer(&mem[0])), nil
}
