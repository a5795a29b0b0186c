package worker

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// stdlibGuestDir is where an interpreter built by build/python/build.sh
// looks for its standard library: it was configured with --prefix
// /usr/local, and on WASI CPython cannot find itself on disk, so it falls
// back to that prefix and imports from /usr/local/lib/python3.X.
const stdlibGuestDir = "/usr/local/lib"

// stdlibDir returns the host folder to mount at stdlibGuestDir for the
// interpreter at pythonWasm: the "lib" folder beside it, when that holds a
// standard library, zipped (lib/python3XY.zip, as build.sh installs it) or
// not (lib/python3.X/os.py). Interpreters that carry their standard
// library inside the module (the npm build packs it with wasi-vfs) have no
// such folder and get no mount.
func stdlibDir(pythonWasm string) string {
	if pythonWasm == "" {
		return ""
	}
	lib := filepath.Join(filepath.Dir(pythonWasm), "lib")
	for _, pattern := range []string{"python3*.zip", filepath.Join("python3.*", "os.py")} {
		if found, _ := filepath.Glob(filepath.Join(lib, pattern)); len(found) > 0 {
			return lib
		}
	}
	return ""
}

// mountStdlib mounts the interpreter's standard library read-only, through
// sandboxfs like every host folder, so that no link inside it leads out
// and no cell can change a module that the next session imports.
func mountStdlib(fsc wazero.FSConfig, cfg Config, newFS fenceFunc) (wazero.FSConfig, error) {
	dir := stdlibDir(cfg.PythonWasm)
	if dir == "" {
		return fsc, nil
	}
	lib, err := newFS(dir, sandboxfs.Options{
		ReadOnly: true,
		Log:      func(msg string) { fmt.Fprintln(os.Stderr, "wasipy: standard library:", msg) },
	})
	if err != nil {
		return nil, fmt.Errorf("standard library %s: %w", dir, err)
	}
	return fsc.(sysfs.FSConfig).WithSysFSMount(lib, stdlibGuestDir), nil
}
