package codecache

import (
	"crypto/sha256"
	"encoding/hex"
)

// Interpreter images (package image) are cache entries like compiled
// code: sealed in the manifest, read into memory and checked before use.
// A forged image could not leave the sandbox (it is guest memory, run by
// wazero like any guest), but it would run as the notebook's interpreter,
// with the notebook's files: it is never trusted either.

// ImageName is the cache name of the image keyed by key (see
// worker.imageKey): a hash, so no key can name a path.
func ImageName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "image-" + hex.EncodeToString(sum[:12]) + ".img"
}

// ReadImage returns the image stored under name, checked, in memory
// outside the Go heap (free it with the function returned), or ok=false
// when there is none or it does not verify (then it is deleted and
// logged, and the caller starts from scratch).
func (c *Cache) ReadImage(name string) (data []byte, free func(), ok bool) {
	return c.read(name, allocOffHeap)
}

// WriteImage stores an image under name and seals it in the manifest.
func (c *Cache) WriteImage(name string, data []byte) error {
	return c.write(name, data)
}

// HasEntry says whether the manifest lists name (without checking the
// file: for deciding whether to rebuild, not for use).
func (c *Cache) HasEntry(name string) bool {
	return c != nil && c.dir != "" && c.man.Entries[name] != nil
}
