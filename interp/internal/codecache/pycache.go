package codecache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The runtime's Python files are embedded and mounted read-only, so CPython
// cannot cache their bytecode beside them, and compiling them from source
// costs about a tenth of a second on every start. Instead, a short-lived
// worker that runs no user code compiles them once into a host folder
// (keyed by a hash of the runtime files), sealed in the cache's manifest.
// Every later guest gets, as its PYTHONPYCACHEPREFIX, a read-only copy in
// memory of that folder (LoadPycache), made when its worker starts and
// only if every file matches the manifest: bytecode planted in the folder
// (by a notebook that could reach it, or anyone else) is never run, and a
// change made while a session runs does not reach it.

// TreeHash is a short hash of every file beneath root in fsys, names and
// contents: it keys the bytecode folder to the runtime's sources.
func TreeHash(fsys fs.FS, root string) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// PycacheDir is where the runtime's bytecode for the interpreter at
// pythonWasm is kept; "" without a cache. It is keyed by the runtime's
// sources (runtimeHash, see TreeHash) and by the interpreter: a folder
// prepared by one CPython holds no bytecode for another (the cache tag
// differs), yet would be marked complete.
func PycacheDir(cacheDir, pythonWasm, runtimeHash string) string {
	if cacheDir == "" {
		return ""
	}
	name := "pycache-" + runtimeHash
	if pythonWasm != "" {
		abs, err := filepath.Abs(pythonWasm)
		if err != nil {
			abs = pythonWasm
		}
		sum := sha256.Sum256([]byte(abs))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return filepath.Join(cacheDir, name)
}

// PycacheReady reports whether the bytecode folder dir was completed.
func PycacheReady(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "complete"))
	return err == nil
}

// PublishPycache moves freshly compiled bytecode from tmp to dir and seals
// it in the manifest, under the cache's lock so that no worker sweeps the
// folder away as unknown between the two. The files are hashed as they
// are now: they were written by a worker that ran no user code, into a
// folder of its own, a moment ago.
func PublishPycache(cacheDir, keyFile string, log io.Writer, tmp, dir string) error {
	c := Open(cacheDir, keyFile, log)
	defer c.Done()
	if c.dir == "" {
		return errors.New("the code cache is not usable, the bytecode is not kept")
	}
	if _, sealed := c.man.Entries[filepath.Base(dir)+"/complete"]; sealed && PycacheReady(dir) {
		return nil // another kernel prepared it meanwhile
	}
	_ = os.RemoveAll(dir) // unsealed leftovers, swept already
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if err := c.adoptTree(filepath.Base(dir)); err != nil {
		c.forgetTree(filepath.Base(dir), fmt.Sprintf("could not be sealed: %v", err))
		return err
	}
	return nil
}
