package interp

import (
	"io"
	"path/filepath"

	"github.com/wasipy/wasipy/interp/internal/codecache"
	"github.com/wasipy/wasipy/interp/internal/worker"
	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// Config says which interpreter to run and what the sandbox holds.
type Config struct {
	// PythonWasm is the WASI CPython command module to run.
	PythonWasm string
	// CacheDir keeps the stripped module and wazero's compilation cache.
	// Empty disables caching (every start compiles for seconds).
	CacheDir string
	// WorkDir is mounted read-write at the same path in the guest and made
	// its working directory, so relative paths agree with the host's.
	WorkDir string
	// ImportPaths are host folders of pure-Python packages, mounted
	// read-only at the same paths and added to the guest's sys.path.
	ImportPaths []string
	// Mounts are host folders mounted read-only at other guest paths,
	// not put on sys.path (the runtime's own libraries, like the
	// installer's packaging and resolvelib; see pip/).
	Mounts []Mount
	// Hidden are host paths the guest must never reach through any mount:
	// the kernel's own folders (caches, data, history, Jupyter's runtime
	// folder with connection files), which may lie inside WorkDir.
	// CacheDir and the folder of PythonWasm are always hidden.
	Hidden []string
	// DiskQuota caps what the guest may add beneath WorkDir. Its counters
	// are shared with every worker started with this Config, so a restart
	// does not reset them. Nil: no cap.
	DiskQuota *sandboxfs.Quota
	// DiskQuotaBytes, DiskQuotaFiles and QuotaFD carry DiskQuota to the
	// worker (the counters travel as an inherited descriptor).
	DiskQuotaBytes int64
	DiskQuotaFiles int64
	QuotaFD        int
	// Env adds variables to the guest's environment.
	Env map[string]string
	// MemoryLimit caps the guest's linear memory in bytes (rounded down to
	// whole 64 KiB pages). Past it, allocations fail and Python raises
	// MemoryError. 0 means DefaultMemoryLimit; more than MaxMemoryLimit
	// (all that wasm32 can address) means MaxMemoryLimit.
	MemoryLimit uint64
	// Modules are Python modules implemented in Go (see Module).
	Modules []*Module
	// Executable is the program started as the worker; it must call
	// WorkerMain first thing. Empty means this program.
	Executable string
	// Stderr receives the worker's own diagnostics. Nil discards them.
	Stderr io.Writer

	// SnapshotDir holds the sessions' snapshots (%snapshot save); ""
	// means the data dir's snapshots/.
	SnapshotDir string
	// Snapshot names the snapshot to start from (%snapshot save NAME in an
	// earlier session of the same interpreter and options); a start that
	// cannot use it starts from the prepared image and logs why.
	Snapshot string

	// NoImage starts the interpreter from scratch even when the cache
	// holds an image of it (see Prepare).
	NoImage bool

	// prepareImage, set by Prepare, makes the worker store an image of
	// the prepared interpreter in the cache and exit.
	prepareImage bool

	// prepareInto, set by Prepare, makes the worker compile the runtime's
	// bytecode into this host folder and exit, running no user code.
	prepareInto string
}

// Mount is a host folder mounted read-only at Guest, an absolute guest
// path beneath /.wasipy/ (where the guest's own files live).
type Mount = worker.Mount

// snapshotDir is where cfg's sessions keep snapshots.
func snapshotDir(cfg Config) string {
	if cfg.SnapshotDir != "" {
		return cfg.SnapshotDir
	}
	return filepath.Join(DataDir(), "snapshots")
}

// StartInfo says how an interpreter started (Process.StartInfo).
type StartInfo = worker.StartInfo

// workerConfig is what the worker is told: every path and limit worked
// out here, so that the worker only applies them.
func workerConfig(cfg Config) worker.Config {
	w := worker.Config{
		PythonWasm:       cfg.PythonWasm,
		CacheDir:         cfg.CacheDir,
		KeyFile:          filepath.Join(DataDir(), codecache.KeyFile),
		PycacheDir:       pycacheDir(cfg),
		PrepareInto:      cfg.prepareInto,
		PrepareImage:     cfg.prepareImage,
		SnapshotDir:      snapshotDir(cfg),
		Snapshot:         cfg.Snapshot,
		UseImage:         !cfg.NoImage && cfg.prepareInto == "" && !cfg.prepareImage,
		WorkDir:          cfg.WorkDir,
		ImportPaths:      cfg.ImportPaths,
		Mounts:           cfg.Mounts,
		Hidden:           append([]string(nil), cfg.Hidden...),
		Env:              cfg.Env,
		MemoryLimitPages: memoryLimitPages(cfg.MemoryLimit),
	}
	if cfg.CacheDir != "" {
		w.Hidden = append(w.Hidden, cfg.CacheDir)
	}
	// The data dir holds the key that seals the code cache.
	w.Hidden = append(w.Hidden, DataDir())
	if cfg.PythonWasm != "" {
		// The interpreter, and its folder: a built one keeps its standard
		// library beside it, which later sessions import.
		if abs, err := filepath.Abs(cfg.PythonWasm); err == nil {
			w.Hidden = append(w.Hidden, abs, filepath.Dir(abs))
		}
	}
	if q := cfg.DiskQuota; q != nil {
		w.Quota, w.QuotaBytes, w.QuotaFiles = true, q.MaxBytes, q.MaxFiles
	}
	return w
}
