// Package codecache is the worker's cache of compiled code, authenticated: nothing in it is used unless it
// matches a manifest sealed with a key that lives outside the cache.
//
// The cache holds native machine code that wazero maps executable, the
// stripped python.wasm with the guest-memory addresses the interrupter
// writes to, and the runtime's bytecode. Whoever can change those bytes
// runs code as the user on the next interpreter start (issue #17). The
// defence does not rely on the folder being out of the guest's reach:
//
//   - cacheDir/manifest lists every entry the kernel wrote: relative path,
//     size, SHA-256, and (once the entry is old enough, see statKey) the
//     file's identity and change time. It is sealed with HMAC-SHA256 under
//     a 32-byte random key in the data dir (KeyFile), never in the
//     cache dir. A manifest that does not verify is thrown away with every
//     entry it would have vouched for.
//   - Entries are read into memory and checked before anything uses them;
//     what is used is exactly what was checked (no path is handed to a
//     third party to reopen). wazero's on-disk cache is replaced by
//     sealedFileCache for that reason: wazero's own one reopens its files
//     by name and trusts a CRC.
//   - Files of the cache's own naming that the manifest does not list, or
//     that fail their check, are deleted and logged, so they are rebuilt.
//   - One worker at a time reads and updates the manifest (cacheLock), from
//     opening the cache until python.wasm is compiled, before any guest
//     code runs; a file another process is still writing is never listed.
package codecache

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing/fstest"
	"time"
)

const (
	cacheManifestName = "manifest"
	cacheLockName     = ".lock"
	// KeyFile is the name of the key's file, kept in the data dir.
	KeyFile = "cache.key"
	// manifestLimit bounds what is read of a manifest: the file is
	// attacker-writable in the threat model, its size is not trusted.
	manifestLimit = 4 << 20
	// cacheLockWait is how long a start waits for another worker that is
	// compiling; past it the cache is not used (compiling in memory is
	// slow but safe).
	cacheLockWait = 3 * time.Minute
	// manifestDomain separates this MAC from any other use of the key.
	manifestDomain = "wasipy code cache manifest v1\n"
)

// cacheEntry is what the manifest says of one file.
type cacheEntry struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Stat, when set, is statKey of the file when its digest was last
	// checked and its change time was already older than racyMargin: a
	// file whose statKey still matches has not been written since, so its
	// bytes need not be hashed again (see statKey).
	Stat string `json:"stat,omitempty"`
}

type cacheManifest struct {
	Entries map[string]*cacheEntry `json:"entries"`
}

// Cache is one worker's (or Prepare's) view of the cache while it
// holds the lock. The zero value, and a nil *Cache, is "no cache":
// nothing is read or written.
type Cache struct {
	dir   string // "" when the cache is not in use
	key   []byte
	lock  *os.File
	log   io.Writer
	man   cacheManifest
	dirty bool
	pyc   fs.FS // the runtime's bytecode, checked, in memory
}

// Open opens the cache at dir: it takes the lock, checks the manifest
// against the key in keyFile (created on first use) and deletes what the
// manifest does not vouch for. It never fails: a cache that cannot be
// trusted is not used (Usable is false), and the reason is logged. Call
// Done once python.wasm is compiled, before any guest code runs.
func Open(dir, keyFile string, log io.Writer) *Cache {
	if log == nil {
		log = io.Discard
	}
	c := &Cache{log: log}
	if dir == "" {
		return c
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.logf("not used: %v", err)
		return c
	}
	lock, err := lockCacheDir(filepath.Join(dir, cacheLockName), cacheLockWait)
	if err != nil {
		c.logf("not used: %v", err)
		return c
	}
	key, fresh, err := loadCacheKey(keyFile, c.logf)
	if err != nil {
		unlockCacheDir(lock)
		c.logf("not used: %v", err)
		return c
	}
	c.dir, c.key, c.lock = dir, key, lock
	c.man.Entries = map[string]*cacheEntry{}
	switch err := c.readManifest(); {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && fresh:
		// First use (or a lost key): everything there is unvouched for.
	case errors.Is(err, fs.ErrNotExist):
		c.logf("no manifest: every cached entry is discarded")
	default:
		c.logf("manifest rejected (%v): every cached entry is discarded", err)
		c.dirty = true
	}
	c.sweep()
	return c
}

// Usable reports whether the cache is in use (Open got its lock and key).
func (c *Cache) Usable() bool { return c != nil && c.dir != "" }

func (c *Cache) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "wasipy: code cache: "+format+"\n", args...)
}

// readManifest loads and authenticates the manifest. On any error the
// manifest is empty.
func (c *Cache) readManifest() error {
	f, err := os.Open(filepath.Join(c.dir, cacheManifestName))
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, manifestLimit+1))
	if err != nil {
		return err
	}
	if len(raw) > manifestLimit {
		return errors.New("larger than any manifest the kernel writes")
	}
	mac, body, ok := bytes.Cut(raw, []byte("\n"))
	if !ok {
		return errors.New("malformed")
	}
	want := make([]byte, sha256.Size)
	if n, err := hex.Decode(want, mac); err != nil || n != sha256.Size {
		return errors.New("malformed seal")
	}
	if !hmac.Equal(want, c.seal(body)) {
		return errors.New("seal does not match: written by someone other than the kernel, or under another key")
	}
	var m cacheManifest
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("sealed but unreadable: %w", err)
	}
	for rel, e := range m.Entries {
		if e == nil || !managedPath(rel) || e.Size < 0 || len(e.SHA256) != 2*sha256.Size {
			return fmt.Errorf("sealed but invalid entry %q", rel)
		}
	}
	if m.Entries != nil {
		c.man = m
	}
	return nil
}

func (c *Cache) seal(body []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(manifestDomain))
	h.Write(body)
	return h.Sum(nil)
}

// writeManifest seals and writes the manifest if it changed.
func (c *Cache) writeManifest() {
	if c == nil || c.dir == "" || !c.dirty {
		return
	}
	body, err := json.Marshal(c.man)
	if err != nil {
		c.logf("manifest not written: %v", err)
		return
	}
	out := hex.AppendEncode(nil, c.seal(body))
	out = append(append(out, '\n'), body...)
	if err := writeFileAtomic(filepath.Join(c.dir, cacheManifestName), out); err != nil {
		c.logf("manifest not written: %v", err)
		return
	}
	c.dirty = false
}

// Done writes the manifest and releases the lock: from now on this worker
// neither reads nor writes the cache. Safe to call more than once.
func (c *Cache) Done() {
	if c == nil || c.lock == nil {
		return
	}
	c.writeManifest()
	unlockCacheDir(c.lock)
	c.lock = nil
	c.dir = ""
}

// managedPath says whether rel (slash-separated, relative to the cache
// dir) is a name the kernel writes: only those are ever read, so only
// those are swept. Anything else in the folder is left alone; --cache-dir
// may point at a folder that holds other things.
func managedPath(rel string) bool {
	if !fs.ValidPath(rel) || rel == "." {
		return false
	}
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case top == "wazero":
		return true
	case strings.HasPrefix(top, "pycache-"):
		return true
	case strings.HasPrefix(top, "python-") && (strings.HasSuffix(top, ".wasm") || strings.HasSuffix(top, ".json")):
		return top == rel
	case (strings.HasPrefix(top, "image-") || strings.HasPrefix(top, "snapshot-")) && strings.HasSuffix(top, ".img"):
		return top == rel
	}
	return false
}

// sweep deletes every managed file the manifest does not vouch for (not
// listed, not a regular file, or of another size) and drops entries whose
// file is gone. Contents are checked when an entry is used, not here, so a
// start only reads what it needs.
func (c *Cache) sweep() {
	seen := map[string]bool{}
	_ = filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a folder that vanished or cannot be read: nothing of it is used
		}
		rel, rerr := filepath.Rel(c.dir, path)
		if rerr != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if !managedPath(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		e := c.man.Entries[rel]
		reason := ""
		switch {
		case e == nil:
			reason = "not in the manifest"
		case !d.Type().IsRegular():
			reason = "not a regular file"
		default:
			if fi, err := d.Info(); err != nil || fi.Size() != e.Size {
				reason = "size differs from the manifest"
			}
		}
		if reason != "" {
			c.discard(rel, reason)
			return nil
		}
		seen[rel] = true
		return nil
	})
	for rel := range c.man.Entries {
		if !seen[rel] {
			delete(c.man.Entries, rel)
			c.dirty = true
		}
	}
}

// discard deletes a file that cannot be trusted and forgets its entry.
func (c *Cache) discard(rel, reason string) {
	c.logf("discarded %s: %s", rel, reason)
	if err := os.Remove(filepath.Join(c.dir, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.logf("could not delete %s: %v", rel, err)
	}
	if _, ok := c.man.Entries[rel]; ok {
		delete(c.man.Entries, rel)
		c.dirty = true
	}
	// A pycache folder is one unit: Start prepares it again only when its
	// "complete" mark is gone.
	if top, _, _ := strings.Cut(rel, "/"); strings.HasPrefix(top, "pycache-") && top != rel {
		c.forgetTree(top, "a file of it was discarded")
	}
}

// forgetTree deletes a whole managed folder and its entries.
func (c *Cache) forgetTree(top, reason string) {
	for rel := range c.man.Entries {
		if strings.HasPrefix(rel, top+"/") {
			delete(c.man.Entries, rel)
			c.dirty = true
		}
	}
	if _, err := os.Lstat(filepath.Join(c.dir, top)); err == nil {
		c.logf("discarded %s: %s", top, reason)
		_ = os.RemoveAll(filepath.Join(c.dir, top))
	}
}

// read returns the contents of rel if they are what the manifest sealed,
// into a buffer from alloc (nil: the Go heap). A file that does not match
// is discarded. The bytes returned are the bytes checked: either hashed
// here, or read from an open file whose identity and change time are the
// sealed ones before and after the read (see statKey).
func (c *Cache) read(rel string, alloc func(int) ([]byte, func())) (data []byte, free func(), ok bool) {
	if c == nil || c.dir == "" {
		return nil, nil, false
	}
	e := c.man.Entries[rel]
	if e == nil {
		return nil, nil, false
	}
	if alloc == nil {
		alloc = func(n int) ([]byte, func()) { return make([]byte, n), func() {} }
	}
	started := time.Now()
	f, err := openNoFollow(filepath.Join(c.dir, filepath.FromSlash(rel)))
	if err != nil {
		c.discard(rel, fmt.Sprintf("cannot be opened safely: %v", err))
		return nil, nil, false
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil || !before.Mode().IsRegular() || before.Size() != e.Size {
		c.discard(rel, "not a regular file of the sealed size")
		return nil, nil, false
	}
	keyBefore := statKey(before)
	buf, free := alloc(int(e.Size))
	if _, err := io.ReadFull(f, buf); err != nil {
		free()
		c.discard(rel, fmt.Sprintf("read: %v", err))
		return nil, nil, false
	}
	after, err := f.Stat()
	keyAfter := ""
	if err == nil {
		keyAfter = statKey(after)
	}
	if keyBefore != "" && keyBefore == e.Stat && keyAfter == keyBefore {
		return buf, free, true
	}
	sum := sha256.Sum256(buf)
	if hex.EncodeToString(sum[:]) != e.SHA256 {
		free()
		c.discard(rel, "contents differ from the sealed digest")
		return nil, nil, false
	}
	// Hashed and good. Remember its identity if nothing wrote it while it
	// was read and its last change is old enough to be told apart from
	// any later one (racyMargin).
	if keyAfter != "" && keyAfter == keyBefore && changedBefore(after, started.Add(-racyMargin)) && e.Stat != keyAfter {
		e.Stat = keyAfter
		c.dirty = true
	}
	return buf, free, true
}

// write stores data as rel (atomically) and lists it in the manifest.
func (c *Cache) write(rel string, data []byte) error {
	return c.writeFrom(rel, bytes.NewReader(data))
}

func (c *Cache) writeFrom(rel string, r io.Reader) error {
	if c == nil || c.dir == "" {
		return errors.New("no cache")
	}
	if !managedPath(rel) {
		return fmt.Errorf("%q is not a cache name", rel)
	}
	path := filepath.Join(c.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// No Stat yet: the file was changed just now, so a change made right
	// after could carry the same time (racyMargin). The next start that
	// reads it hashes it and records its identity.
	c.man.Entries[rel] = &cacheEntry{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	c.dirty = true
	// Sealed at once: a worker killed later in its start (a kernel that
	// gives up waiting for a slow compile) keeps what it has made.
	c.writeManifest()
	return nil
}

// adoptTree lists every file under the managed folder top in the manifest,
// hashing each: for a folder this process has just made (Prepare's
// bytecode), before anything reads it.
func (c *Cache) adoptTree(top string) error {
	if c == nil || c.dir == "" {
		return errors.New("no cache")
	}
	root := filepath.Join(c.dir, top)
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(c.dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() || !managedPath(rel) {
			return fmt.Errorf("%s: not a regular file", rel)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		c.man.Entries[rel] = &cacheEntry{Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
		c.dirty = true
		return nil
	})
}

// LoadPycache reads the runtime's bytecode folder into memory if every
// file of it checks out; the guest then gets the in-memory copy, so no
// later change to the folder reaches a running interpreter.
func (c *Cache) LoadPycache(dir string) {
	if dir == "" || !PycacheReady(dir) {
		return
	}
	top := filepath.Base(dir)
	files := fstest.MapFS{}
	for rel := range c.man.Entries {
		if !strings.HasPrefix(rel, top+"/") {
			continue
		}
		b, _, ok := c.read(rel, nil)
		if !ok {
			return // discarded with the whole folder, Start prepares it again
		}
		files[strings.TrimPrefix(rel, top+"/")] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	if files["complete"] == nil {
		c.forgetTree(top, "not sealed")
		return
	}
	c.pyc = files
}

// Pycache is the checked bytecode for the guest's PYTHONPYCACHEPREFIX, or
// nil when there is none.
func (c *Cache) Pycache() fs.FS {
	if c == nil || c.pyc == nil {
		return nil
	}
	return c.pyc
}

// loadCacheKey reads the key that seals the manifest, creating it on
// first use. fresh reports that no usable key was there (so no manifest
// can verify). The key is created beside the data, mode 0600, and
// published with link(2) so that two kernels starting at once agree on
// one key: the loser of the race reads the winner's.
func loadCacheKey(path string, logf func(string, ...any)) (key []byte, fresh bool, err error) {
	if key, err := readCacheKey(path); err == nil {
		return key, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		logf("key %s rejected (%v): a new one is made and the cache rebuilt", path, err)
		_ = os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cache.key-*")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	fresh = true
	key = make([]byte, sha256.Size)
	if _, err := rand.Read(key); err != nil {
		tmp.Close()
		return nil, false, err
	}
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	// Whoever won, the key is the one on disk now.
	key, err = readCacheKey(path)
	return key, fresh, err
}

func readCacheKey(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() != sha256.Size {
		return nil, errors.New("not a 32-byte regular file")
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("readable by others (mode %v)", st.Mode().Perm())
	}
	key := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, err
	}
	return key, nil
}

// wazeroVersion names the folder of wazero's compiled code, as wazero's
// own file cache does: entries of another wazero version are useless.
func wazeroVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/tetratelabs/wazero" && dep.Version != "" && dep.Version != "(devel)" {
				return dep.Version
			}
		}
	}
	return "dev"
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
