//go:build linux

package codecache

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// answerModule exports f() -> i32 returning 42: enough for wazero's
// compiler to produce machine code that the cache stores.
var answerModule = append(append([]byte{}, wasmbin.Magic...),
	0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
	0x03, 0x02, 0x01, 0x00, // func 0 has type 0
	0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00, // export "f" = func 0
	0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, // body: i32.const 42
)

// tinyModule has a type section, a broken custom ".debug_info" and a
// custom "name": a module without usable DWARF.
var tinyModule = append(append([]byte{}, wasmbin.Magic...),
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one func type () -> ()
	0x00, 0x0d, 0x0b, '.', 'd', 'e', 'b', 'u', 'g', '_', 'i', 'n', 'f', 'o', 0xAA, // custom .debug_info
	0x00, 0x06, 0x04, 'n', 'a', 'm', 'e', 0xBB, // custom name
)

// testRuntimeHash stands for TreeHash of the runtime.
const testRuntimeHash = "0123456789abcdef"

// cacheFixture is a cache dir and a data dir (for the key) of one test.
type cacheFixture struct {
	t     *testing.T
	cache string
	data  string
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newCacheFixture(t *testing.T) *cacheFixture {
	root := t.TempDir()
	f := &cacheFixture{t: t, cache: filepath.Join(root, "cache"), data: filepath.Join(root, "data"), log: &syncBuffer{}}
	return f
}

func (f *cacheFixture) keyFile() string { return filepath.Join(f.data, KeyFile) }

func (f *cacheFixture) open() *Cache {
	c := Open(f.cache, f.keyFile(), f.log)
	require.NotEmpty(f.t, c.dir, "cache not usable: %s", f.log)
	return c
}

// compile compiles answerModule through a fresh runtime backed by the
// trusted cache, runs f and checks its answer.
func (f *cacheFixture) compile() {
	ctx := context.Background()
	c := f.open()
	defer c.Done()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(c.CompilationCache()))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, answerModule)
	require.NoError(f.t, err)
	c.Done()
	m, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig())
	require.NoError(f.t, err)
	out, err := m.ExportedFunction("f").Call(ctx)
	require.NoError(f.t, err)
	require.Equal(f.t, []uint64{42}, out)
}

// wazeroEntries lists the compiled-code files (relative paths).
func (f *cacheFixture) wazeroEntries() []string {
	var out []string
	_ = filepath.WalkDir(filepath.Join(f.cache, "wazero"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(f.cache, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func (f *cacheFixture) sealed() map[string]*cacheEntry {
	c := f.open()
	defer c.Done()
	return c.man.Entries
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if at < 0 {
		at = int64(len(b)) + at
	}
	b[at] ^= 0xff
	// In place, as a writer holding the file open would: same inode.
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// fileVersion tells one write of a file from another: inode numbers are
// reused at once after a delete, change times are not (tests sleep past a
// timestamp tick before comparing).
func fileVersion(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d@%d.%09d", sys.Ino, sys.Ctim.Sec, sys.Ctim.Nsec)
}

// The sealed store really is the one wazero uses: compiled code lands in
// it, sealed, and a second runtime takes it from there (no recompilation,
// so the file is not rewritten).
func TestSealedFileCacheIsPluggedIn(t *testing.T) {
	f := newCacheFixture(t)
	f.compile()
	entries := f.wazeroEntries()
	require.Len(t, entries, 1, "wazero stored nothing through the sealed store")
	require.Contains(t, f.sealed(), entries[0])
	v := fileVersion(t, filepath.Join(f.cache, entries[0]))
	time.Sleep(20 * time.Millisecond)
	f.compile()
	require.Equal(t, v, fileVersion(t, filepath.Join(f.cache, entries[0])), "the entry was compiled again instead of read from the cache")
	require.NotContains(t, f.log.String(), "discarded")
}

// A changed byte anywhere in a compiled-code entry: the entry is not used,
// it is deleted with a log line, and compiling writes it again, identical
// to the original.
func TestTamperedWazeroEntryIsRebuilt(t *testing.T) {
	f := newCacheFixture(t)
	f.compile()
	entry := f.wazeroEntries()[0]
	path := filepath.Join(f.cache, entry)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, at := range []int64{0, int64(len(orig) / 2), -1} {
		flipByte(t, path, at)
		f.compile()
		require.Contains(t, f.log.String(), "discarded "+entry+": contents differ from the sealed digest")
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, orig, got, "not rebuilt")
	}
}

// Files of the cache's naming that no manifest lists are deleted; other
// files in the folder are none of the cache's business and stay.
func TestUnknownFilesAreRemoved(t *testing.T) {
	f := newCacheFixture(t)
	f.compile()
	planted := []string{
		"wazero/" + wazeroVersion() + "-x/0000000000000000000000000000000000000000000000000000000000000000",
		"wazero/wazero-v1.12.0-amd64-linux/82ba",
		"python-0123456789abcdef.wasm",
		"python-0123456789abcdef.json",
		"pycache-0123456789abcdef/complete",
	}
	for _, rel := range planted {
		p := filepath.Join(f.cache, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte("planted"), 0o600))
	}
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(f.cache, "python-fedcba9876543210.wasm")))
	require.NoError(t, os.WriteFile(filepath.Join(f.cache, "notes.txt"), []byte("mine"), 0o600))

	f.compile()
	for _, rel := range append(planted, "python-fedcba9876543210.wasm") {
		_, err := os.Lstat(filepath.Join(f.cache, rel))
		require.ErrorIs(t, err, fs.ErrNotExist, "%s survived", rel)
		require.Contains(t, f.log.String(), "discarded "+rel+": ")
	}
	_, err := os.Stat(filepath.Join(f.cache, "notes.txt"))
	require.NoError(t, err, "a file the cache does not own was deleted")
	require.Len(t, f.wazeroEntries(), 1)
}

// A manifest changed by anyone without the key vouches for nothing: every
// entry is discarded and rebuilt.
func TestTamperedManifestRebuildsEverything(t *testing.T) {
	f := newCacheFixture(t)
	f.compile()
	entry := f.wazeroEntries()[0]
	man := filepath.Join(f.cache, cacheManifestName)
	raw, err := os.ReadFile(man)
	require.NoError(t, err)

	// Forge: list a planted entry under a seal made with another key.
	planted := "python-0123456789abcdef.json"
	require.NoError(t, os.WriteFile(filepath.Join(f.cache, planted), []byte(`{}`), 0o600))
	forged := strings.Replace(string(raw), `{"entries":{`, `{"entries":{"`+planted+`":{"size":2,"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},`, 1)
	require.NotEqual(t, string(raw), forged)
	require.NoError(t, os.WriteFile(man, []byte(forged), 0o600))
	f.compile()
	require.Contains(t, f.log.String(), "manifest rejected (seal does not match")
	require.Contains(t, f.log.String(), "discarded "+entry+": not in the manifest")
	require.Contains(t, f.log.String(), "discarded "+planted)
	require.Len(t, f.wazeroEntries(), 1)
	require.NotContains(t, f.sealed(), planted)

	// Garbage and an oversized manifest are rejected the same way.
	for _, bad := range [][]byte{[]byte("no seal"), bytes.Repeat([]byte("a"), manifestLimit+2)} {
		require.NoError(t, os.WriteFile(man, bad, 0o600))
		before := strings.Count(f.log.String(), "discarded "+entry)
		f.compile()
		require.Equal(t, before+1, strings.Count(f.log.String(), "discarded "+entry), "an entry of a rejected manifest was kept")
		require.Len(t, f.wazeroEntries(), 1)
	}
	require.Contains(t, f.log.String(), "manifest rejected (larger than")
	require.Contains(t, f.log.String(), "manifest rejected (malformed")
}

// Without its key the manifest cannot be checked: a new key is made
// (0600), and everything is rebuilt under it.
func TestMissingKeyRebuilds(t *testing.T) {
	f := newCacheFixture(t)
	f.compile()
	keyPath := filepath.Join(f.data, KeyFile)
	oldKey, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	entry := f.wazeroEntries()[0]

	require.NoError(t, os.Remove(keyPath))
	f.compile()
	newKey, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	require.Len(t, newKey, 32)
	require.NotEqual(t, oldKey, newKey)
	st, err := os.Stat(keyPath)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	require.Contains(t, f.log.String(), "manifest rejected")
	require.Contains(t, f.log.String(), "discarded "+entry+": not in the manifest")
	require.Len(t, f.wazeroEntries(), 1)

	// A key others could read, or a link in its place, is not trusted.
	require.NoError(t, os.Chmod(keyPath, 0o644))
	f.compile()
	require.Contains(t, f.log.String(), "readable by others")
	require.NoError(t, os.Remove(keyPath))
	require.NoError(t, os.WriteFile(filepath.Join(f.data, "elsewhere"), newKey, 0o600))
	require.NoError(t, os.Symlink(filepath.Join(f.data, "elsewhere"), keyPath))
	f.compile()
	st, err = os.Lstat(keyPath)
	require.NoError(t, err)
	require.True(t, st.Mode().IsRegular(), "the link was kept as the key")
}

// Forged interrupt addresses are not used: the .json is rebuilt from the
// module's own DWARF (here: none, so no addresses at all).
func TestTamperedInterruptAddressesAreRebuilt(t *testing.T) {
	f := newCacheFixture(t)
	wasm := filepath.Join(t.TempDir(), "python.wasm")
	require.NoError(t, os.WriteFile(wasm, tinyModule, 0o600))
	load := func() *Module {
		c := f.open()
		defer c.Done()
		p, err := LoadModule(wasm, c)
		require.NoError(t, err)
		return p
	}
	first := load()
	require.Nil(t, first.Targets)
	jsons, _ := filepath.Glob(filepath.Join(f.cache, "python-*.json"))
	require.Len(t, jsons, 1)
	orig, err := os.ReadFile(jsons[0])
	require.NoError(t, err)

	// Same size, different addresses: only the digest can tell.
	forged := []byte(`{"interrupt_targets":{"addrs":[1,2,3,4]}}`)
	forged = append(forged, bytes.Repeat([]byte(" "), len(orig)-len(forged))...)
	require.Len(t, forged, len(orig))
	require.NoError(t, os.WriteFile(jsons[0], forged, 0o600))
	p := load()
	require.Nil(t, p.Targets, "forged interrupt addresses were used")
	require.Contains(t, f.log.String(), "discarded "+filepath.Base(jsons[0])+": contents differ")
	got, err := os.ReadFile(jsons[0])
	require.NoError(t, err)
	require.Equal(t, orig, got)

	// The stripped module likewise.
	wasms, _ := filepath.Glob(filepath.Join(f.cache, "python-*.wasm"))
	require.Len(t, wasms, 1)
	flipByte(t, wasms[0], -1)
	p = load()
	require.Equal(t, first.Wasm, p.Wasm)
	require.Contains(t, f.log.String(), "discarded "+filepath.Base(wasms[0]))
}

// The runtime's bytecode is handed to the guest from memory, and only if
// every file of it checks out; one changed file discards the folder.
func TestPycacheIsCheckedAndServedFromMemory(t *testing.T) {
	f := newCacheFixture(t)
	dir := PycacheDir(f.cache, "", testRuntimeHash)
	tmp := filepath.Join(f.cache, ".pycache-test")
	files := map[string]string{"complete": testRuntimeHash + "\n", ".wasipy/runtime/a.cpython-312.pyc": "bytecode a", ".wasipy/runtime/b.cpython-312.pyc": "bytecode b"}
	for name, data := range files {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
	}
	require.NoError(t, PublishPycache(f.cache, f.keyFile(), f.log, tmp, dir))

	c := f.open()
	c.LoadPycache(dir)
	pyc := c.Pycache()
	c.Done()
	require.NotNil(t, pyc)
	for name, data := range files {
		b, err := fs.ReadFile(pyc, name)
		require.NoError(t, err)
		require.Equal(t, data, string(b))
	}
	// Later changes to the folder do not reach the copy already handed out.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".wasipy/runtime/a.cpython-312.pyc"), []byte("bytecode A"), 0o600))
	b, err := fs.ReadFile(pyc, ".wasipy/runtime/a.cpython-312.pyc")
	require.NoError(t, err)
	require.Equal(t, "bytecode a", string(b))

	c = Open(f.cache, f.keyFile(), f.log)
	c.LoadPycache(dir)
	require.Nil(t, c.Pycache(), "changed bytecode was served")
	c.Done()
	require.Contains(t, f.log.String(), "discarded "+filepath.Base(dir))
	require.False(t, PycacheReady(dir), "Start would not prepare the bytecode again")
}

// Concurrent kernels: every entry each of them wrote is in the manifest
// afterwards, and every one verifies.
func TestConcurrentUpdatesKeepEveryEntry(t *testing.T) {
	f := newCacheFixture(t)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := Open(f.cache, f.keyFile(), f.log)
			defer c.Done()
			if c.dir == "" {
				t.Error("cache not usable")
				return
			}
			if err := c.write(fmt.Sprintf("wazero/test/%02d", i), bytes.Repeat([]byte{byte(i)}, 1000+i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c := f.open()
	defer c.Done()
	require.Len(t, c.man.Entries, n)
	for i := range n {
		b, _, ok := c.read(fmt.Sprintf("wazero/test/%02d", i), nil)
		require.True(t, ok)
		require.Len(t, b, 1000+i)
	}
	require.NotContains(t, f.log.String(), "discarded")
}

// The identity shortcut: an entry hashed once, when its last change was
// old enough, is later trusted by (dev, inode, size, mtime, ctime); a
// write that restores size and mtime still changes ctime and is caught.
func TestStatShortcutCatchesRewrites(t *testing.T) {
	f := newCacheFixture(t)
	c := f.open()
	require.NoError(t, c.write("python-0000000000000000.wasm", []byte("\x00asm original")))
	require.Empty(t, c.man.Entries["python-0000000000000000.wasm"].Stat, "a file written just now must not be trusted by its identity")
	_, _, ok := c.read("python-0000000000000000.wasm", nil)
	require.True(t, ok)
	require.Empty(t, c.man.Entries["python-0000000000000000.wasm"].Stat, "a file changed less than racyMargin ago must not be trusted by its identity")
	c.Done()

	// Pretend the margin has passed (the test cannot wait for it). A
	// timestamp tick is at most a few ms on the file systems tests run on.
	defer func(m time.Duration) { racyMargin = m }(racyMargin)
	racyMargin = 0
	time.Sleep(50 * time.Millisecond)
	c = f.open()
	_, _, ok = c.read("python-0000000000000000.wasm", nil)
	require.True(t, ok)
	require.NotEmpty(t, c.man.Entries["python-0000000000000000.wasm"].Stat)
	c.Done()

	path := filepath.Join(f.cache, "python-0000000000000000.wasm")
	st, err := os.Stat(path)
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, os.WriteFile(path, []byte("\x00asm tampered"), 0o600))
	require.NoError(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
	c = f.open()
	defer c.Done()
	_, _, ok = c.read("python-0000000000000000.wasm", nil)
	require.False(t, ok, "a rewrite with the same size and mtime was trusted")
	require.Contains(t, f.log.String(), "contents differ from the sealed digest")
}

// A worker waiting for the lock gives up after its wait and runs without
// the cache rather than hanging the kernel's start.
func TestLockWaitIsBounded(t *testing.T) {
	dir := t.TempDir()
	held, err := lockCacheDir(filepath.Join(dir, cacheLockName), time.Second)
	require.NoError(t, err)
	start := time.Now()
	_, err = lockCacheDir(filepath.Join(dir, cacheLockName), 100*time.Millisecond)
	require.ErrorContains(t, err, "still held")
	require.Less(t, time.Since(start), 5*time.Second)
	unlockCacheDir(held)
	again, err := lockCacheDir(filepath.Join(dir, cacheLockName), time.Second)
	require.NoError(t, err)
	unlockCacheDir(again)
}

// BenchmarkCacheStart measures what the authentication adds to a start:
// opening the cache (lock, key, manifest, sweep), reading the stripped
// module, its addresses, the compiled code and the bytecode, at their real
// sizes. "unauthenticated" reads the same files as the old code did.
//
//	go test -run X -bench CacheStart -benchtime 20x ./interp/internal/codecache/
func BenchmarkCacheStart(b *testing.B) {
	root := b.TempDir()
	keyFile := filepath.Join(root, "data", KeyFile)
	dir := filepath.Join(root, "cache")
	pyc := PycacheDir(dir, "", testRuntimeHash)
	sizes := map[string]int{
		"python-0000000000000000.wasm":                                    13_343_823,
		"python-0000000000000000.json":                                    65,
		"wazero/" + wazeroVersion() + "-bench/" + strings.Repeat("0", 64): 34_393_464,
	}
	for i := range 35 {
		sizes[fmt.Sprintf("%s/.wasipy/runtime/m%02d.pyc", filepath.Base(pyc), i)] = 15_000
	}
	sizes[filepath.Base(pyc)+"/complete"] = 17
	c := Open(dir, keyFile, os.Stderr)
	for rel, n := range sizes {
		data := bytes.Repeat([]byte{0x5a}, n)
		require.NoError(b, c.write(rel, data))
	}
	c.Done()
	start := func(b *testing.B) {
		c := Open(dir, keyFile, os.Stderr)
		for rel := range sizes {
			if strings.HasPrefix(rel, "pycache-") {
				continue
			}
			_, free, ok := c.read(rel, allocOffHeap)
			if !ok {
				b.Fatalf("%s did not verify", rel)
			}
			free()
		}
		c.LoadPycache(pyc)
		if c.Pycache() == nil {
			b.Fatal("bytecode did not verify")
		}
		c.Done()
	}
	defer func(m time.Duration) { racyMargin = m }(racyMargin)
	// CPU time per start, reported beside wall time: on a shared machine
	// it is the steadier figure.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	loop := func(b *testing.B, body func()) {
		t0 := cpu()
		n := 0
		for b.Loop() {
			body()
			n++
		}
		b.ReportMetric(float64(cpu()-t0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
	}

	b.Run("hashed", func(b *testing.B) {
		racyMargin = 1000 * time.Hour // never trust identity: hash every time
		loop(b, func() { start(b) })
	})
	b.Run("identity", func(b *testing.B) {
		racyMargin = 0
		time.Sleep(20 * time.Millisecond)
		start(b) // records the identities
		loop(b, func() { start(b) })
	})
	b.Run("unauthenticated", func(b *testing.B) {
		loop(b, func() {
			for rel := range sizes {
				if _, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
