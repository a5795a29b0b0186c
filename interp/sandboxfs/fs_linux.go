package sandboxfs

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// errQuota is what the guest sees when the disk quota refuses a write.
// wazero's WASI layer maps every errno outside its small set (ENOSPC and
// EDQUOT among them) to EIO, so the guest gets EIO; the runtime reads the
// quota file (QuotaFS) to tell the user why.
const errQuota = experimentalsys.EIO

// resolveBeneath is the fence: the kernel fails any lookup that would step
// outside the directory it starts from (EXDEV), through "..", an absolute
// path or link, or a relative link, and never follows /proc's magic links.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// neverWorldWritable is masked out of every mode the guest sets.
const neverWorldWritable = 0o002

type dirFS struct {
	experimentalsys.UnimplementedFS
	root  int // O_PATH descriptor of the mount's root, pinned for the mount's life
	pol   policy
	quota *Quota
	log   func(string)
	logs  atomic.Int64
}

// New mounts the host folder dir. The folder is pinned when New runs: if it
// is renamed later the mount follows it, and a folder put in its place is
// not reached.
func New(dir string, o Options) (experimentalsys.FS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	// Probe once: without openat2 there is no fence, and no mount.
	probe, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveBeneath})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: %w (%v)", dir, ErrUnsupported, err)
	}
	unix.Close(probe)
	real := fdPath(fd)
	if real == "" {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: cannot read its real path from /proc/self/fd", dir)
	}
	return &dirFS{root: fd, pol: newPolicy(real, o), quota: o.Quota, log: o.Log}, nil
}

// logf reports a refusal. A cell in a loop must not flood the kernel's log:
// the first 100 are written, then one line says the rest are not.
func (f *dirFS) logf(format string, args ...any) {
	if f.log == nil {
		return
	}
	switch n := f.logs.Add(1); {
	case n < 100:
		f.log("sandbox: " + fmt.Sprintf(format, args...))
	case n == 100:
		f.log("sandbox: further refusals are not logged")
	}
}

func (f *dirFS) String() string { return f.pol.root }

// fdPath is the host path the kernel reports for an open descriptor ("" if
// unknown). It is where the descriptor is now, whatever names led to it.
func fdPath(fd int) string {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(procPath(fd), buf)
	if err != nil || n == len(buf) {
		return ""
	}
	p := string(buf[:n])
	if !strings.HasPrefix(p, "/") {
		return "" // "anon_inode:…", "pipe:[…]": nothing a mount holds
	}
	return p
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func errno(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	return experimentalsys.UnwrapOSError(err)
}

// lookup opens path beneath the root with flags. It is the only way this
// package turns a guest path into a host descriptor.
func (f *dirFS) lookup(path string, flags int, mode uint32) (int, experimentalsys.Errno) {
	p := relPath(path)
	// openat2 is strict: with O_PATH, only O_CLOEXEC, O_DIRECTORY and
	// O_NOFOLLOW may be given.
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveBeneath}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(f.root, p, how)
		switch {
		case err == nil:
			return fd, 0
		case err == unix.EAGAIN && tries < 32:
			// A rename elsewhere raced a ".." in the lookup; the kernel
			// asks to retry rather than risk a wrong answer.
			continue
		case err == unix.EXDEV:
			f.logf("%q leads outside the mount (a link or \"..\" pointing out of it); the guest is told it does not exist", path)
			return -1, experimentalsys.ENOENT
		default:
			return -1, errno(err)
		}
	}
}

// entry opens what path names as an O_PATH descriptor (following a final
// link when follow is set: within the mount only) and checks it is visible.
func (f *dirFS) entry(path string, follow bool) (int, access, experimentalsys.Errno) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, e := f.lookup(path, flags, 0)
	if e != 0 {
		return -1, access{}, e
	}
	a := f.pol.classify(fdPath(fd))
	if !a.visible {
		unix.Close(fd)
		f.logf("%q is one of the kernel's own files; the guest is told it does not exist", path)
		return -1, access{}, experimentalsys.ENOENT
	}
	return fd, a, 0
}

// parent opens the folder holding path's last name and returns that name,
// with what the guest may do to the folder and to the named entry.
func (f *dirFS) parent(path string) (dirfd int, dir access, name string, child access, e experimentalsys.Errno) {
	p := strings.TrimRight(relPath(path), "/")
	dirPath, name := ".", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dirPath, name = p[:i], p[i+1:]
	}
	if name == "" || name == "." || name == ".." {
		return -1, access{}, "", access{}, experimentalsys.EINVAL
	}
	if dirfd, e = f.lookup(dirPath, unix.O_PATH|unix.O_DIRECTORY, 0); e != 0 {
		return -1, access{}, "", access{}, e
	}
	real := fdPath(dirfd)
	dir = f.pol.classify(real)
	if !dir.visible {
		unix.Close(dirfd)
		f.logf("%q is inside the kernel's own files; the guest is told it does not exist", path)
		return -1, access{}, "", access{}, experimentalsys.ENOENT
	}
	child = f.pol.classify(strings.TrimSuffix(real, "/") + "/" + name)
	if !child.visible {
		unix.Close(dirfd)
		f.logf("%q is one of the kernel's own files; the guest is told it does not exist", path)
		return -1, access{}, "", access{}, experimentalsys.ENOENT
	}
	return dirfd, dir, name, child, 0
}

// writable answers EROFS for a change the mount does not allow.
func (f *dirFS) writable(a access) experimentalsys.Errno {
	if !a.writable {
		return experimentalsys.EROFS
	}
	return 0
}

func wantsWrite(flag experimentalsys.Oflag) bool {
	return flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_APPEND) != 0
}

func unixFlags(flag experimentalsys.Oflag) int {
	var o int
	switch {
	case flag&experimentalsys.O_RDWR != 0:
		o = unix.O_RDWR
	case flag&experimentalsys.O_WRONLY != 0:
		o = unix.O_WRONLY
	default:
		o = unix.O_RDONLY
	}
	for _, m := range []struct {
		from experimentalsys.Oflag
		to   int
	}{
		{experimentalsys.O_APPEND, unix.O_APPEND},
		{experimentalsys.O_DIRECTORY, unix.O_DIRECTORY},
		{experimentalsys.O_DSYNC, unix.O_DSYNC},
		{experimentalsys.O_RSYNC, unix.O_RSYNC},
		{experimentalsys.O_SYNC, unix.O_SYNC},
		{experimentalsys.O_TRUNC, unix.O_TRUNC},
	} {
		if flag&m.from != 0 {
			o |= m.to
		}
	}
	return o
}

// OpenFile implements experimentalsys.FS.
func (f *dirFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	write := wantsWrite(flag)
	if write && f.pol.readOnly {
		return nil, experimentalsys.EROFS
	}
	for tries := 0; ; tries++ {
		fd, a, e := f.entry(path, flag&experimentalsys.O_NOFOLLOW == 0)
		switch {
		case e == 0:
			if flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0 {
				unix.Close(fd)
				return nil, experimentalsys.EEXIST
			}
			return f.reopen(fd, a, path, unixFlags(flag), write)
		case e == experimentalsys.ENOENT && flag&experimentalsys.O_CREAT != 0:
			file, e := f.create(path, unixFlags(flag), perm)
			if e == experimentalsys.EEXIST && flag&experimentalsys.O_EXCL == 0 && tries < 3 {
				continue // made by someone else since we looked: open it
			}
			return file, e
		default:
			return nil, e
		}
	}
}

// reopen turns the O_PATH descriptor of an existing entry into an open file,
// through /proc's link to that very inode (no second lookup by name, so
// nothing can be swapped in between the check and the open).
func (f *dirFS) reopen(pathFD int, a access, path string, flags int, write bool) (experimentalsys.File, experimentalsys.Errno) {
	defer unix.Close(pathFD)
	var st unix.Stat_t
	if err := unix.Fstat(pathFD, &st); err != nil {
		return nil, errno(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR:
	case unix.S_IFLNK:
		return nil, experimentalsys.ELOOP // O_NOFOLLOW on a link
	default:
		// A FIFO would block the guest inside open(2), where no interrupt
		// reaches it; sockets and devices belong to the host.
		f.logf("%q is not a regular file or folder (a FIFO, socket or device); refused", path)
		return nil, experimentalsys.EACCES
	}
	if write {
		if e := f.writable(a); e != 0 {
			return nil, e
		}
	}
	fd, err := unix.Open(procPath(pathFD), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, errno(err)
	}
	if flags&unix.O_TRUNC != 0 && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink <= 1 {
		f.quota.addBytes(-st.Size)
	}
	return f.newFile(fd, &st), 0
}

// create makes a new regular file at path; it never follows a link there.
func (f *dirFS) create(path string, flags int, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	dirfd, dir, name, _, e := f.parent(path)
	if e != 0 {
		return nil, e
	}
	defer unix.Close(dirfd)
	if e := f.writable(dir); e != 0 {
		return nil, e
	}
	if !f.quota.addFiles(1) {
		f.logf("creating %q: the session's file quota is used up", path)
		return nil, errQuota
	}
	fd, err := unix.Openat(dirfd, name, flags|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, uint32(perm.Perm())&^neverWorldWritable)
	if err != nil {
		f.quota.addFiles(-1)
		return nil, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, errno(err)
	}
	return f.newFile(fd, &st), 0
}

// Stat implements experimentalsys.FS.
func (f *dirFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	return f.stat(path, true)
}

// Lstat implements experimentalsys.FS.
func (f *dirFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) {
	return f.stat(path, false)
}

func (f *dirFS) stat(path string, follow bool) (sys.Stat_t, experimentalsys.Errno) {
	fd, _, e := f.entry(path, follow)
	if e != 0 {
		return sys.Stat_t{}, e
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return toStat(&st), 0
}

// Mkdir implements experimentalsys.FS.
func (f *dirFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	return f.makeEntry(path, func(dirfd int, name string) error {
		return unix.Mkdirat(dirfd, name, uint32(perm.Perm())&^neverWorldWritable)
	})
}

// makeEntry adds one entry (a folder or a link) named by path: in a
// writable folder, counted against the quota, undone on the quota if mk
// fails.
func (f *dirFS) makeEntry(path string, mk func(dirfd int, name string) error) experimentalsys.Errno {
	dirfd, dir, name, _, e := f.parent(path)
	if e != 0 {
		return e
	}
	defer unix.Close(dirfd)
	if e := f.writable(dir); e != 0 {
		return e
	}
	if !f.quota.addFiles(1) {
		f.logf("making %q: the session's file quota is used up", path)
		return errQuota
	}
	if err := mk(dirfd, name); err != nil {
		f.quota.addFiles(-1)
		return errno(err)
	}
	return 0
}

// Chmod implements experimentalsys.FS.
func (f *dirFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	mode := uint32(perm.Perm()) &^ neverWorldWritable
	for _, bit := range specialBits {
		if perm&bit.fs != 0 {
			mode |= bit.unix
		}
	}
	return f.changeEntry(path, func(proc string) experimentalsys.Errno {
		return errno(unix.Fchmodat(unix.AT_FDCWD, proc, mode, 0))
	})
}

// Utimens implements experimentalsys.FS.
func (f *dirFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	return f.changeEntry(path, func(proc string) experimentalsys.Errno {
		return utimens(proc, atim, mtim)
	})
}

// changeEntry changes the attributes of what path names (following a final
// link, within the mount), through /proc's link to the pinned inode, if
// the mount lets it be written.
func (f *dirFS) changeEntry(path string, change func(proc string) experimentalsys.Errno) experimentalsys.Errno {
	fd, a, e := f.entry(path, true)
	if e != 0 {
		return e
	}
	defer unix.Close(fd)
	if e := f.writable(a); e != 0 {
		return e
	}
	return change(procPath(fd))
}

func utimens(path string, atim, mtim int64) experimentalsys.Errno {
	ts := []unix.Timespec{timespec(atim), timespec(mtim)}
	return errno(unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, 0))
}

func timespec(t int64) unix.Timespec {
	if t == experimentalsys.UTIME_OMIT {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t)
}

// removable checks that an entry may be removed or renamed away.
func (f *dirFS) removable(path string, dir, child access) experimentalsys.Errno {
	if child.pinned {
		f.logf("%q holds the kernel's own files or a read-only folder; it cannot be removed or renamed", path)
		return experimentalsys.EPERM
	}
	return f.writable(dir)
}

// dropped takes an entry that was removed or replaced (its stat from just
// before) off the quota. A file with other hard links keeps its bytes.
func (f *dirFS) dropped(st *unix.Stat_t) {
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Nlink <= 1 {
		f.quota.addFiles(-1)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink <= 1 {
		f.quota.addBytes(-st.Size)
	}
}

// Rename implements experimentalsys.FS.
func (f *dirFS) Rename(from, to string) experimentalsys.Errno {
	fromDir, fromAccess, fromName, fromChild, e := f.parent(from)
	if e != 0 {
		return e
	}
	defer unix.Close(fromDir)
	toDir, toAccess, toName, toChild, e := f.parent(to)
	if e != 0 {
		return e
	}
	defer unix.Close(toDir)
	if e := f.removable(from, fromAccess, fromChild); e != 0 {
		return e
	}
	if e := f.removable(to, toAccess, toChild); e != 0 {
		return e
	}
	var replaced unix.Stat_t
	hadTarget := unix.Fstatat(toDir, toName, &replaced, unix.AT_SYMLINK_NOFOLLOW) == nil
	if err := unix.Renameat(fromDir, fromName, toDir, toName); err != nil {
		return errno(err)
	}
	if hadTarget {
		f.dropped(&replaced)
	}
	return 0
}

// Rmdir implements experimentalsys.FS.
func (f *dirFS) Rmdir(path string) experimentalsys.Errno {
	return f.remove(path, unix.AT_REMOVEDIR)
}

// Unlink implements experimentalsys.FS.
func (f *dirFS) Unlink(path string) experimentalsys.Errno {
	return f.remove(path, 0)
}

func (f *dirFS) remove(path string, flags int) experimentalsys.Errno {
	dirfd, dir, name, child, e := f.parent(path)
	if e != 0 {
		return e
	}
	defer unix.Close(dirfd)
	if e := f.removable(path, dir, child); e != 0 {
		return e
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errno(err)
	}
	if flags == 0 && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return experimentalsys.EISDIR
	}
	if err := unix.Unlinkat(dirfd, name, flags); err != nil {
		return errno(err)
	}
	f.dropped(&st)
	return 0
}

// Link implements experimentalsys.FS. The source is resolved beneath the
// root like any path, so a hard link can only ever name a file that was
// already inside the mount, and never one of the kernel's own or a
// read-only one (which the new name would make writable).
func (f *dirFS) Link(oldPath, newPath string) experimentalsys.Errno {
	src, srcAccess, e := f.entry(oldPath, false)
	if e != 0 {
		return e
	}
	defer unix.Close(src)
	if !srcAccess.writable {
		return experimentalsys.EROFS
	}
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return errno(err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFLNK {
		return experimentalsys.EPERM
	}
	return f.makeEntry(newPath, func(dirfd int, name string) error {
		// AT_SYMLINK_FOLLOW on /proc's link names the pinned inode itself.
		return unix.Linkat(unix.AT_FDCWD, procPath(src), dirfd, name, unix.AT_SYMLINK_FOLLOW)
	})
}

// Symlink implements experimentalsys.FS. Any relative target may be
// written (it is only ever followed beneath the root); an absolute one is
// refused as wazero does, since the guest's absolute paths are not the
// host's and such a link could never be followed here.
func (f *dirFS) Symlink(target, linkName string) experimentalsys.Errno {
	if strings.HasPrefix(target, "/") {
		return experimentalsys.EPERM
	}
	return f.makeEntry(linkName, func(dirfd int, name string) error {
		return unix.Symlinkat(target, dirfd, name)
	})
}

// Readlink implements experimentalsys.FS.
func (f *dirFS) Readlink(path string) (string, experimentalsys.Errno) {
	dirfd, _, name, _, e := f.parent(path)
	if e != 0 {
		return "", e
	}
	defer unix.Close(dirfd)
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", errno(err)
	}
	return string(buf[:n]), 0
}

func toStat(st *unix.Stat_t) sys.Stat_t {
	return sys.Stat_t{
		Dev:   st.Dev,
		Ino:   st.Ino,
		Mode:  fileMode(st.Mode),
		Nlink: st.Nlink,
		Size:  st.Size,
		Atim:  st.Atim.Nano(),
		Mtim:  st.Mtim.Nano(),
		Ctim:  st.Ctim.Nano(),
	}
}

func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	for _, bit := range specialBits {
		if m&bit.unix != 0 {
			mode |= bit.fs
		}
	}
	return mode
}

// specialBits pairs the setuid, setgid and sticky bits of the two encodings.
var specialBits = []struct {
	unix uint32
	fs   fs.FileMode
}{
	{unix.S_ISUID, fs.ModeSetuid},
	{unix.S_ISGID, fs.ModeSetgid},
	{unix.S_ISVTX, fs.ModeSticky},
}
