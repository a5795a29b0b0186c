package interp

import (
	"io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// readOnlyDir mounts a host folder read-only. It is wazero's ReadFS, except
// that opening a file for writing fails with EROFS ("Read-only file
// system"), which says what happened, where wazero answers ENOSYS
// ("Function not implemented").
type readOnlyDir struct {
	*sysfs.ReadFS
}

func newReadOnlyDir(dir string) experimentalsys.FS {
	return readOnlyDir{&sysfs.ReadFS{FS: sysfs.DirFS(dir)}}
}

func (r readOnlyDir) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, errno := r.ReadFS.OpenFile(path, flag, perm)
	if errno == experimentalsys.ENOSYS {
		errno = experimentalsys.EROFS
	}
	return f, errno
}
