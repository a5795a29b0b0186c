package sandboxfs

import (
	"io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// UsageFS is a read-only folder with one file, "usage", that tells the guest
// how much of the quota it used: "bytes max_bytes files max_files\n" (a
// max of 0 means no cap). The guest's runtime reads it to explain an
// OSError that the quota caused (wazero can only report it as EIO).
func UsageFS(q *Quota) experimentalsys.FS { return usageFS{q: q} }

type usageFS struct {
	experimentalsys.UnimplementedFS
	q *Quota
}

func (u usageFS) OpenFile(path string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_APPEND) != 0 {
		return nil, experimentalsys.EROFS
	}
	switch relPath(path) {
	case ".":
		return &usageDir{}, 0
	case "usage":
		return &usageFile{content: []byte(u.q.Usage().String())}, 0
	}
	return nil, experimentalsys.ENOENT
}

func (u usageFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	switch relPath(path) {
	case ".":
		return sys.Stat_t{Mode: fs.ModeDir | 0o555, Nlink: 2, Ino: 1}, 0
	case "usage":
		return sys.Stat_t{Mode: 0o444, Nlink: 1, Ino: 2, Size: int64(len(u.q.Usage().String()))}, 0
	}
	return sys.Stat_t{}, experimentalsys.ENOENT
}

func (u usageFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) { return u.Stat(path) }

type usageDir struct {
	experimentalsys.UnimplementedFile
	listed bool
}

func (*usageDir) IsDir() (bool, experimentalsys.Errno) { return true, 0 }
func (*usageDir) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeDir | 0o555, Nlink: 2, Ino: 1}, 0
}

func (d *usageDir) Readdir(int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if d.listed {
		return nil, 0
	}
	d.listed = true
	return []experimentalsys.Dirent{{Name: "usage", Ino: 2}}, 0
}

// usageFile holds the figures as they were when it was opened.
type usageFile struct {
	experimentalsys.UnimplementedFile
	content []byte
	off     int
}

func (*usageFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (f *usageFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: 0o444, Nlink: 1, Ino: 2, Size: int64(len(f.content))}, 0
}

func (f *usageFile) Read(buf []byte) (int, experimentalsys.Errno) {
	n := copy(buf, f.content[f.off:])
	f.off += n
	return n, 0
}

func (f *usageFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if off >= int64(len(f.content)) {
		return 0, 0
	}
	return copy(buf, f.content[off:]), 0
}
