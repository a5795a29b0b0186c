package codecache

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

// sealedFileCache is wazero's on-disk compilation cache, authenticated.
//
// wazero's own (NewCompilationCacheWithDir) opens entries by name when it
// compiles and only checks a CRC, so whoever can write the folder chooses
// the machine code the worker maps executable. wazero has no public way to
// plug in another store, but its cache keeps the store in one unexported
// field of interface type (Get/Add/Delete by a 32-byte key); withFileCache
// puts this one there. Every entry it returns was read into memory and
// checked against the sealed manifest (Cache.read), and what it is
// given to store is written and sealed by Cache.writeFrom.
//
// It must only be used while the Cache holds the lock, that is
// during CompileModule, which is where wazero calls it.
type sealedFileCache struct {
	c   *Cache
	dir string // relative folder of this wazero version's entries
}

func newSealedFileCache(c *Cache) *sealedFileCache {
	return &sealedFileCache{c: c, dir: "wazero/" + wazeroVersion() + "-" + runtime.GOARCH + "-" + runtime.GOOS}
}

func (s *sealedFileCache) rel(key [32]byte) string { return s.dir + "/" + hex.EncodeToString(key[:]) }

// Get returns the entry for key if it authenticates; a miss otherwise (a
// tampered entry is deleted and logged by read), so wazero compiles.
func (s *sealedFileCache) Get(key [32]byte) (io.ReadCloser, bool, error) {
	data, free, ok := s.c.read(s.rel(key), allocOffHeap)
	if !ok {
		return nil, false, nil
	}
	return &freeingReader{Reader: bytes.NewReader(data), free: free}, true, nil
}

// Add stores what wazero has just compiled from the module's own bytes.
func (s *sealedFileCache) Add(key [32]byte, content io.Reader) error {
	if err := s.c.writeFrom(s.rel(key), content); err != nil {
		s.c.logf("compiled code not cached: %v", err)
	}
	return nil // not caching costs time, not correctness
}

// Delete is called when wazero finds an entry stale (another version).
func (s *sealedFileCache) Delete(key [32]byte) error {
	s.c.discard(s.rel(key), "stale for this wazero")
	return nil
}

// freeingReader hands the entry's buffer back when wazero closes it
// (wazero copies the code into its own executable mapping).
type freeingReader struct {
	*bytes.Reader
	free func()
}

func (r *freeingReader) Close() error {
	if r.free != nil {
		r.free()
		r.free = nil
	}
	return nil
}

// CompilationCache returns a wazero compilation cache backed by this
// trusted cache, or an in-memory one when the cache is not in use or
// cannot be plugged in (then the worker compiles, slowly but safely).
func (c *Cache) CompilationCache() wazero.CompilationCache {
	cc := wazero.NewCompilationCache()
	if c == nil || c.dir == "" {
		return cc
	}
	if err := withFileCache(cc, newSealedFileCache(c)); err != nil {
		c.logf("not used: %v", err)
	}
	return cc
}

// withFileCache sets the store of a cache made by wazero.NewCompilationCache.
// It checks the shape it relies on, so a wazero upgrade that changes it
// fails here (and in TestSealedFileCacheIsPluggedIn), never silently.
func withFileCache(cc wazero.CompilationCache, store any) error {
	v := reflect.ValueOf(cc)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("wazero's compilation cache has an unexpected shape")
	}
	f := v.Elem().FieldByName("fileCache")
	if !f.IsValid() || f.Kind() != reflect.Interface {
		return errors.New("wazero's compilation cache has no fileCache field")
	}
	s := reflect.ValueOf(store)
	if !s.Type().Implements(f.Type()) {
		return fmt.Errorf("%s does not implement wazero's %s", s.Type(), f.Type())
	}
	if !f.IsNil() {
		return errors.New("wazero's compilation cache already has a store")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(s)
	return nil
}
