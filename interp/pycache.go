package interp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// The runtime's Python files are embedded and mounted read-only, so CPython
// cannot cache their bytecode beside them, and compiling them from source
// costs about a tenth of a second on every start. Instead, a short-lived
// worker that runs no user code compiles them once into a host folder
// (keyed by a hash of the runtime files), sealed in the cache's manifest
// (cacheauth.go). Every later guest gets, as its PYTHONPYCACHEPREFIX, a
// read-only copy in memory of that folder, made when its worker starts and
// only if every file matches the manifest: bytecode planted in the folder
// (by a notebook that could reach it, or anyone else) is never run, and a
// change made while a session runs does not reach it.
const pycacheGuestDir = "/.wasipy/pycache"

var runtimeHash = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(runtimeFiles, "runtime", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := runtimeFiles.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
})

// pycacheDir is where the runtime's bytecode for cfg's interpreter is
// kept; "" without a cache. It is keyed by the runtime's sources and by
// the interpreter: a folder prepared by one CPython holds no bytecode for
// another (the cache tag differs), yet would be marked complete.
func pycacheDir(cfg Config) string {
	if cfg.CacheDir == "" {
		return ""
	}
	name := "pycache-" + runtimeHash()
	if cfg.PythonWasm != "" {
		abs, err := filepath.Abs(cfg.PythonWasm)
		if err != nil {
			abs = cfg.PythonWasm
		}
		sum := sha256.Sum256([]byte(abs))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return filepath.Join(cfg.CacheDir, name)
}

func pycacheReady(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "complete"))
	return err == nil
}

// compileScript compiles the runtime into the pycache prefix and exits.
const compileScript = "import sys, compileall; sys.exit(0 if compileall.compile_dir('" + runtimeGuestDir + "', quiet=1) else 1)"

// Prepare warms the caches for cfg.PythonWasm: the stripped module and
// wazero's compiled code, and the runtime's bytecode. Start does it when
// needed; install.sh does it ahead so that the first notebook starts fast.
func Prepare(ctx context.Context, cfg Config) error {
	dir := pycacheDir(cfg)
	if dir == "" || pycacheReady(dir) {
		return nil
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cfg.CacheDir, ".pycache-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfg.prepareInto = tmp
	p, err := Start(ctx, cfg)
	if err == nil {
		p.Close()
		return fmt.Errorf("prepare: the interpreter did not exit")
	}
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 0 {
		return fmt.Errorf("compiling the runtime: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(runtimeHash()+"\n"), 0o644); err != nil {
		return err
	}
	return publishPycache(cfg, tmp, dir)
}

// publishPycache moves the freshly compiled bytecode into place and seals
// it in the manifest, under the cache's lock so that no worker sweeps the
// folder away as unknown between the two. The files are hashed as they
// are now: they were written by a worker that ran no user code, into a
// folder of its own, a moment ago.
func publishPycache(cfg Config, tmp, dir string) error {
	c := openCache(cfg.CacheDir, cfg.Stderr)
	defer c.done()
	if c.dir == "" {
		return errors.New("the code cache is not usable, the bytecode is not kept")
	}
	if _, sealed := c.man.Entries[filepath.Base(dir)+"/complete"]; sealed && pycacheReady(dir) {
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
