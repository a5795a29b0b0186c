package interp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/wasipy/wasipy/interp/internal/codecache"
)

// runtimeHash keys the runtime's bytecode to its sources (see
// codecache.PycacheDir).
var runtimeHash = sync.OnceValue(func() string { return codecache.TreeHash(runtimeFiles, "runtime") })

// pycacheDir is where the runtime's bytecode for cfg's interpreter is
// kept; "" without a cache.
func pycacheDir(cfg Config) string {
	return codecache.PycacheDir(cfg.CacheDir, cfg.PythonWasm, runtimeHash())
}

// Prepare warms the caches for cfg.PythonWasm: the stripped module and
// wazero's compiled code, and the runtime's bytecode, which a worker that
// runs no user code compiles once (the runtime is mounted read-only, so
// CPython cannot cache it beside its sources, and compiling it costs about
// a tenth of a second on every start). Start does it when
// needed; install.sh does it ahead so that the first notebook starts fast.
func Prepare(ctx context.Context, cfg Config) error {
	if err := preparePycache(ctx, cfg); err != nil {
		return err
	}
	return prepareImage(ctx, cfg)
}

// prepareImage has a worker that runs no session take an image of the
// prepared interpreter (CPython initialised, the runtime built) into the
// cache, for later starts to begin from (worker.StartInfo says whether a
// start did). Interpreters built as commands have none: nothing to do.
func prepareImage(ctx context.Context, cfg Config) error {
	if cfg.CacheDir == "" {
		return nil
	}
	cfg.prepareImage = true
	cfg.Modules = nil
	return runTask(ctx, cfg, "taking the interpreter's image")
}

// runTask runs a worker that does one task instead of a session
// (cfg.prepareInto, cfg.prepareImage) and must exit with status 0.
func runTask(ctx context.Context, cfg Config, what string) error {
	p, err := Start(ctx, cfg)
	if err == nil {
		p.Close()
		return fmt.Errorf("prepare: the interpreter did not exit")
	}
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 0 {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// rebuilding holds the images being rebuilt by this process (one at a
// time per interpreter and cache).
var rebuilding sync.Map

// rebuildImage takes a new image in the background, after a start that
// found none (first start, or the interpreter, the runtime or the options
// changed): this start ran from scratch, later ones will not.
func rebuildImage(cfg Config) {
	id := cfg.PythonWasm + "\x00" + cfg.CacheDir
	if _, busy := rebuilding.LoadOrStore(id, true); busy {
		return
	}
	go func() {
		defer rebuilding.Delete(id)
		if err := prepareImage(context.Background(), cfg); err != nil && cfg.Stderr != nil {
			fmt.Fprintln(cfg.Stderr, "wasipy: no interpreter image for later starts:", err)
		}
	}()
}

// preparePycache compiles the runtime's bytecode into the cache, once.
func preparePycache(ctx context.Context, cfg Config) error {
	dir := pycacheDir(cfg)
	if dir == "" || codecache.PycacheReady(dir) {
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
	if err := runTask(ctx, cfg, "compiling the runtime"); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(runtimeHash()+"\n"), 0o644); err != nil {
		return err
	}
	return codecache.PublishPycache(cfg.CacheDir, filepath.Join(DataDir(), codecache.KeyFile), cfg.Stderr, tmp, dir)
}
