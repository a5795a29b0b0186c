package codecache

import (
	"fmt"
	"io/fs"
	"syscall"
	"time"
)

// racyMargin: a file's identity is trusted in place of its digest only if
// its change time was at least this old when it was hashed. Any later
// write then gives it a change time no earlier than the moment of that
// write, minus the file system's timestamp granularity (a jiffy on ext4,
// up to 2 s on FAT or old NFS), hence strictly later than the sealed one.
var racyMargin = 3 * time.Second

// statKey is a file's identity and last change as the kernel records them:
// device, inode, size, mtime and ctime in nanoseconds. A process can set
// mtime (utimensat) but not ctime: every write, truncate, chmod, link or
// rename of the inode sets ctime to the current time, and only changing
// the system clock (root) can move it back. So a file whose statKey equals
// the one recorded when its digest was checked, with a ctime older than
// racyMargin at that moment, has the checked contents — provided no
// process held it mapped shared and writable across the check (a page
// already dirty can be written again without a new timestamp), which
// needs a host process of the user, not a notebook. The worker reads the
// bytes into memory and compares statKey before and after the read, so a
// write during the read is caught too.
func statKey(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d.%09d:%d.%09d", st.Dev, st.Ino, st.Size,
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// changedBefore says whether fi's ctime is before t.
func changedBefore(fi fs.FileInfo, t time.Time) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(t)
}

// allocOffHeap returns a buffer outside the Go heap for a large entry:
// the worker runs with the garbage collector off, so 30 MB of garbage on
// the heap would stay until the next collection by hand.
func allocOffHeap(n int) ([]byte, func()) {
	if n == 0 {
		return nil, func() {}
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = syscall.Munmap(b) }
}
