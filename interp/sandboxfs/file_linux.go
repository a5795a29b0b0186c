package sandboxfs

import (
	"encoding/binary"
	"io"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// file is an open regular file or folder of a dirFS. It works on its
// descriptor only: nothing it does looks a name up again.
type file struct {
	experimentalsys.UnimplementedFile
	fs     *dirFS
	fd     int
	dev    uint64
	ino    uint64
	isDir  bool
	closed bool

	// Folder listing: entries read from the kernel but not yet handed out.
	pending []experimentalsys.Dirent
	eof     bool
}

func (f *dirFS) newFile(fd int, st *unix.Stat_t) *file {
	return &file{fs: f, fd: fd, dev: st.Dev, ino: st.Ino, isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}
}

func (f *file) Dev() (uint64, experimentalsys.Errno)    { return f.dev, 0 }
func (f *file) Ino() (sys.Inode, experimentalsys.Errno) { return f.ino, 0 }
func (f *file) IsDir() (bool, experimentalsys.Errno)    { return f.isDir, 0 }

func (f *file) IsAppend() bool {
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_APPEND != 0
}

func (f *file) SetAppend(enable bool) experimentalsys.Errno {
	if f.isDir {
		return experimentalsys.EISDIR
	}
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return errno(err)
	}
	if enable {
		fl |= unix.O_APPEND
	} else {
		fl &^= unix.O_APPEND
	}
	_, err = unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, fl)
	return errno(err)
}

func (f *file) Stat() (sys.Stat_t, experimentalsys.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return toStat(&st), 0
}

func (f *file) Read(buf []byte) (int, experimentalsys.Errno) {
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := unix.Read(f.fd, buf)
	if n < 0 {
		n = 0
	}
	return n, errno(err)
}

func (f *file) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := unix.Pread(f.fd, buf, off)
	if n < 0 {
		n = 0
	}
	return n, errno(err)
}

func (f *file) Seek(offset int64, whence int) (int64, experimentalsys.Errno) {
	if f.isDir {
		// Only a rewind makes sense for a listing (wazero rewinds before
		// it lists a folder again).
		if offset != 0 || whence != io.SeekStart {
			return 0, experimentalsys.EISDIR
		}
		f.pending, f.eof = nil, false
	}
	n, err := unix.Seek(f.fd, offset, whence)
	return n, errno(err)
}

// Readdir lists the folder, leaving out "." and ".." (wazero adds them) and
// the kernel's own files.
func (f *file) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if !f.isDir {
		return nil, experimentalsys.EBADF
	}
	for !f.eof && (n <= 0 || len(f.pending) < n) {
		if e := f.fill(); e != 0 {
			return nil, e
		}
	}
	take := len(f.pending)
	if n > 0 && n < take {
		take = n
	}
	out := f.pending[:take:take]
	f.pending = f.pending[take:]
	return out, 0
}

func (f *file) fill() experimentalsys.Errno {
	buf := make([]byte, 16<<10)
	size, err := unix.Getdents(f.fd, buf)
	if err != nil {
		return errno(err)
	}
	if size <= 0 {
		f.eof = true
		return 0
	}
	dir := strings.TrimSuffix(fdPath(f.fd), "/")
	// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
	for b := buf[:size]; len(b) >= 19; {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			return experimentalsys.EIO
		}
		name := b[19:reclen]
		if i := indexNUL(name); i >= 0 {
			name = name[:i]
		}
		ent := experimentalsys.Dirent{Ino: binary.NativeEndian.Uint64(b[0:8]), Name: string(name), Type: direntType(b[18])}
		b = b[reclen:]
		if ent.Name == "." || ent.Name == ".." || ent.Name == "" {
			continue
		}
		if !f.fs.pol.classify(dir + "/" + ent.Name).visible {
			continue
		}
		f.pending = append(f.pending, ent)
	}
	return 0
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func direntType(t byte) experimentalsys.FileType {
	switch t {
	case unix.DT_REG:
		return 0
	case unix.DT_DIR:
		return fileMode(unix.S_IFDIR) &^ 0o777
	case unix.DT_LNK:
		return fileMode(unix.S_IFLNK) &^ 0o777
	case unix.DT_FIFO:
		return fileMode(unix.S_IFIFO) &^ 0o777
	case unix.DT_SOCK:
		return fileMode(unix.S_IFSOCK) &^ 0o777
	case unix.DT_CHR:
		return fileMode(unix.S_IFCHR) &^ 0o777
	case unix.DT_BLK:
		return fileMode(unix.S_IFBLK) &^ 0o777
	}
	return experimentalsys.FileType(1 << 19) // fs.ModeIrregular: unknown
}

// reserve takes the growth a write of n bytes at off (off < 0: at the end
// of the file, for O_APPEND) would cause off the quota, before the write; it
// returns the size before, the offset written at and what it reserved, for
// settle. Without a quota it costs nothing: writes are a hot path.
func (f *file) reserve(off, n int64) (size, at, reserved int64, e experimentalsys.Errno) {
	if f.fs.quota == nil {
		return 0, off, 0, 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return 0, 0, 0, errno(err)
	}
	if off < 0 {
		off = st.Size
	}
	growth := off + n - st.Size
	if growth <= 0 {
		return st.Size, off, 0, 0
	}
	if !f.fs.quota.addBytes(growth) {
		f.fs.logf("a write of %d bytes: the session's disk quota is used up", n)
		return 0, 0, 0, errQuota
	}
	return st.Size, off, growth, 0
}

func (f *file) settle(size, reserved, end int64) {
	used := end - size
	if used < 0 {
		used = 0
	}
	if reserved > used {
		f.fs.quota.addBytes(used - reserved)
	}
}

func (f *file) Write(buf []byte) (int, experimentalsys.Errno) {
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if len(buf) == 0 {
		return 0, 0
	}
	off := int64(-1) // at the end, for O_APPEND
	if f.fs.quota != nil && !f.IsAppend() {
		var err error
		if off, err = unix.Seek(f.fd, 0, io.SeekCurrent); err != nil {
			return 0, errno(err)
		}
	}
	size, off, reserved, e := f.reserve(off, int64(len(buf)))
	if e != 0 {
		return 0, e
	}
	n, err := unix.Write(f.fd, buf)
	if n < 0 {
		n = 0
	}
	f.settle(size, reserved, off+int64(n))
	return n, errno(err)
}

func (f *file) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if len(buf) == 0 {
		return 0, 0
	}
	size, _, reserved, e := f.reserve(off, int64(len(buf)))
	if e != 0 {
		return 0, e
	}
	n, err := unix.Pwrite(f.fd, buf, off)
	if n < 0 {
		n = 0
	}
	f.settle(size, reserved, off+int64(n))
	return n, errno(err)
}

func (f *file) Truncate(size int64) experimentalsys.Errno {
	if f.isDir {
		return experimentalsys.EISDIR
	}
	if size < 0 {
		return experimentalsys.EINVAL
	}
	old, _, reserved, e := f.reserve(size, 0)
	if e != 0 {
		return e
	}
	if err := unix.Ftruncate(f.fd, size); err != nil {
		f.settle(old, reserved, old)
		return errno(err)
	}
	if size < old {
		f.fs.quota.addBytes(size - old)
	}
	return 0
}

func (f *file) Sync() experimentalsys.Errno     { return errno(unix.Fsync(f.fd)) }
func (f *file) Datasync() experimentalsys.Errno { return errno(unix.Fdatasync(f.fd)) }

func (f *file) Utimens(atim, mtim int64) experimentalsys.Errno {
	return utimens(procPath(f.fd), atim, mtim)
}

func (f *file) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	return errno(unix.Close(f.fd))
}
