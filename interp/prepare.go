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
	return codecache.PublishPycache(cfg.CacheDir, filepath.Join(DataDir(), codecache.KeyFile), cfg.Stderr, tmp, dir)
}
