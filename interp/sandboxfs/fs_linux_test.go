package sandboxfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

const secret = "HOST-SECRET"

// world is a host tree: outside/secret.txt must never be read through the
// mount at root/, and root/.cache/wasipy is the kernel's own (hidden).
type world struct {
	top, root, outside, hidden string
}

func newWorld(t *testing.T) world {
	top, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	w := world{top: top, root: filepath.Join(top, "nb"), outside: filepath.Join(top, "outside"), hidden: filepath.Join(top, "nb", ".cache", "wasipy")}
	for _, d := range []string{w.root, w.outside, w.hidden, filepath.Join(w.root, "sub")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(w.outside, "secret.txt"), []byte(secret), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(w.hidden, "code.bin"), []byte(secret), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(w.root, "sub", "f.txt"), []byte("inside"), 0o644))
	return w
}

func (w world) mount(t *testing.T, o Options) experimentalsys.FS {
	o.Hidden = append(o.Hidden, w.hidden)
	f, err := New(w.root, o)
	require.NoError(t, err)
	return f
}

func readAll(t *testing.T, f experimentalsys.FS, path string) (string, experimentalsys.Errno) {
	t.Helper()
	file, e := f.OpenFile(path, experimentalsys.O_RDONLY, 0)
	if e != 0 {
		return "", e
	}
	defer file.Close()
	buf := make([]byte, 4096)
	n, e := file.Read(buf)
	return string(buf[:n]), e
}

// Promise: no link reaches outside the mount, whoever made it, whatever its
// shape; it behaves as if its target did not exist.
func TestLinksNeverLeaveTheMount(t *testing.T) {
	w := newWorld(t)
	f := w.mount(t, Options{})
	// Made by the guest: relative, climbing out.
	require.Zero(t, f.Symlink(strings.Repeat("../", 40), "r"))
	// A chain of links that each look inside: c -> a -> b/.. -> d/.. -> root/..
	require.Zero(t, f.Mkdir("d", 0o755))
	require.Zero(t, f.Symlink("d/..", "b"))
	require.Zero(t, f.Symlink("b/..", "a"))
	require.Zero(t, f.Symlink("a", "c"))
	// Already there, made on the host: absolute and relative.
	require.NoError(t, os.Symlink(w.outside, filepath.Join(w.root, "abs")))
	require.NoError(t, os.Symlink("../outside", filepath.Join(w.root, "rel")))
	require.NoError(t, os.Symlink("/proc/self", filepath.Join(w.root, "proc")))
	for _, p := range []string{
		strings.Repeat("../", 40) + "etc/passwd", "../outside/secret.txt", "r/" + w.outside[1:] + "/secret.txt",
		"c/outside/secret.txt", "a/outside/secret.txt", "abs/secret.txt", "rel/secret.txt",
		"proc/environ", "sub/../../outside/secret.txt", "/../outside/secret.txt",
	} {
		got, e := readAll(t, f, p)
		require.NotContains(t, got, secret, p)
		require.Equal(t, experimentalsys.ENOENT, e, p)
		_, e = f.Stat(p)
		require.Equal(t, experimentalsys.ENOENT, e, p)
	}
	// Writes, times, hard links and renames through them fail too.
	_, e := f.OpenFile("rel/new.txt", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
	require.NotZero(t, e)
	require.NoFileExists(t, filepath.Join(w.outside, "new.txt"))
	require.NotZero(t, f.Utimens("rel/secret.txt", 0, 0))
	require.NotZero(t, f.Link("rel/secret.txt", "hard"))
	require.NotZero(t, f.Rename("rel/secret.txt", "moved"))
	require.NotZero(t, f.Unlink("rel/secret.txt"))
	require.NotZero(t, f.Chmod("rel/secret.txt", 0o777))
	require.FileExists(t, filepath.Join(w.outside, "secret.txt"))
	// A link that stays inside keeps working, sibling folders included.
	require.Zero(t, f.Symlink("../sub", "d/subl"))
	got, e := readAll(t, f, "d/subl/f.txt")
	require.Zero(t, e)
	require.Equal(t, "inside", got)
	// Absolute targets are refused when made (the guest's "/" is not the host's).
	require.Equal(t, experimentalsys.EPERM, f.Symlink(w.outside, "abs2"))
}

// Promise: the kernel's own folders inside the mount are not listed, opened,
// written, renamed or removed, through any name.
func TestHiddenPaths(t *testing.T) {
	w := newWorld(t)
	f := w.mount(t, Options{})
	dir, e := f.OpenFile(".cache", experimentalsys.O_RDONLY, 0)
	require.Zero(t, e)
	ents, e := dir.Readdir(-1)
	require.Zero(t, e)
	require.Empty(t, ents)
	dir.Close()
	for _, p := range []string{".cache/wasipy", ".cache/wasipy/code.bin", "sub/../.cache/wasipy/code.bin"} {
		_, e := readAll(t, f, p)
		require.Equal(t, experimentalsys.ENOENT, e, p)
	}
	require.Zero(t, f.Symlink(".cache/wasipy", "cl"))
	_, e = readAll(t, f, "cl/code.bin")
	require.Equal(t, experimentalsys.ENOENT, e)
	_, e = f.OpenFile(".cache/wasipy/code.bin", experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, 0)
	require.NotZero(t, e)
	_, e = f.OpenFile("cl/new", experimentalsys.O_WRONLY|experimentalsys.O_CREAT, 0o644)
	require.NotZero(t, e)
	require.NotZero(t, f.Rename(".cache", "moved"))
	require.NotZero(t, f.Rename("sub", ".cache/wasipy"))
	require.NotZero(t, f.Rmdir(".cache/wasipy"))
	require.NotZero(t, f.Link("sub/f.txt", ".cache/wasipy/x"))
	b, err := os.ReadFile(filepath.Join(w.hidden, "code.bin"))
	require.NoError(t, err)
	require.Equal(t, secret, string(b))
	require.NoFileExists(t, filepath.Join(w.hidden, "new"))
}

// Promise: a file swapped between a regular file and a link to an outside
// file while the guest reads it never yields the outside file.
func TestSwapRace(t *testing.T) {
	w := newWorld(t)
	f := w.mount(t, Options{})
	target := filepath.Join(w.root, "swap")
	require.NoError(t, os.WriteFile(target, []byte("plain"), 0o644))
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		link, plain := target+".link", target+".plain"
		for !stop.Load() {
			_ = os.Symlink("../outside/secret.txt", link)
			_ = os.Rename(link, target)
			_ = os.WriteFile(plain, []byte("plain"), 0o644)
			_ = os.Rename(plain, target)
		}
	}()
	leaked := 0
	for i := 0; i < 5000; i++ {
		got, _ := readAll(t, f, "swap")
		if strings.Contains(got, secret) {
			leaked++
		}
	}
	stop.Store(true)
	wg.Wait()
	require.Zero(t, leaked)
}

// Promise: a read-only mount, and a read-only folder inside a writable one,
// stay read-only through every name; hard links cannot make them writable.
func TestReadOnly(t *testing.T) {
	w := newWorld(t)
	ro := w.mount(t, Options{ReadOnly: true})
	_, e := ro.OpenFile("sub/f.txt", experimentalsys.O_RDWR, 0)
	require.Equal(t, experimentalsys.EROFS, e)
	require.Equal(t, experimentalsys.EROFS, ro.Mkdir("x", 0o755))

	f := w.mount(t, Options{ReadOnlyPaths: []string{filepath.Join(w.root, "sub")}})
	require.Zero(t, f.Symlink("sub", "alias"))
	_, e = f.OpenFile("alias/f.txt", experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, 0)
	require.Equal(t, experimentalsys.EROFS, e)
	_, e = f.OpenFile("alias/new.txt", experimentalsys.O_WRONLY|experimentalsys.O_CREAT, 0o644)
	require.Equal(t, experimentalsys.EROFS, e)
	require.NotZero(t, f.Link("sub/f.txt", "hard"))
	require.NotZero(t, f.Rename("sub", "elsewhere"))
	require.NotZero(t, f.Unlink("alias/f.txt"))
	b, err := os.ReadFile(filepath.Join(w.root, "sub", "f.txt"))
	require.NoError(t, err)
	require.Equal(t, "inside", string(b))
}

// Promise: FIFOs (and other special files) are refused at once instead of
// blocking the guest inside open(2).
func TestFIFORefused(t *testing.T) {
	w := newWorld(t)
	f := w.mount(t, Options{})
	require.NoError(t, syscallMkfifo(filepath.Join(w.root, "fifo")))
	_, e := f.OpenFile("fifo", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.EACCES, e)
	_, e = f.OpenFile("fifo", experimentalsys.O_WRONLY, 0)
	require.Equal(t, experimentalsys.EACCES, e)
}

// Promise: nothing the guest creates or chmods is world-writable.
func TestNeverWorldWritable(t *testing.T) {
	w := newWorld(t)
	f := w.mount(t, Options{})
	file, e := f.OpenFile("new.txt", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o666)
	require.Zero(t, e)
	file.Close()
	require.Zero(t, f.Chmod("new.txt", 0o777))
	require.Zero(t, f.Mkdir("newdir", 0o777))
	for _, p := range []string{"new.txt", "newdir"} {
		st, err := os.Stat(filepath.Join(w.root, p))
		require.NoError(t, err)
		require.Zero(t, st.Mode().Perm()&0o002, p)
	}
}

// Promise: the quota caps bytes and entries added, gives back what is
// deleted, and is shared by every mount made with it.
func TestQuota(t *testing.T) {
	w := newWorld(t)
	q, err := NewQuota(1<<20, 5)
	require.NoError(t, err)
	f := w.mount(t, Options{Quota: q})
	file, e := f.OpenFile("big", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
	require.Zero(t, e)
	chunk := make([]byte, 256<<10)
	for i := 0; i < 4; i++ {
		_, e = file.Write(chunk)
		require.Zero(t, e)
	}
	_, e = file.Write(chunk)
	require.Equal(t, errQuota, e)
	_, e = file.Pwrite([]byte("x"), 10<<20) // a sparse write far out counts too
	require.Equal(t, errQuota, e)
	require.Equal(t, errQuota, file.Truncate(2<<20))
	file.Close()
	require.EqualValues(t, 1<<20, q.Usage().Bytes)

	// Another mount sharing the counters (a restarted interpreter) sees them.
	q2, err := OpenQuota(q.File(), 1<<20, 5)
	require.NoError(t, err)
	f2 := w.mount(t, Options{Quota: q2})
	for i := 0; i < 4; i++ {
		require.Zero(t, f2.Mkdir("d"+string(rune('0'+i)), 0o755))
	}
	require.Equal(t, errQuota, f2.Mkdir("one-too-many", 0o755))
	require.Positive(t, q.Usage().Refusals)
	require.Zero(t, f2.Unlink("big"))
	require.EqualValues(t, 0, q.Usage().Bytes)
	require.EqualValues(t, 4, q.Usage().Files)
	require.Zero(t, f2.Mkdir("now-fits", 0o755))
	_ = fs.ModeDir
}
