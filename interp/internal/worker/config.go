package worker

// PycacheGuestDir is the guest's PYTHONPYCACHEPREFIX: the runtime's
// bytecode, read-only (see codecache.PycacheDir).
const PycacheGuestDir = "/.wasipy/pycache"

// compileScript compiles the runtime into the pycache prefix and exits.
const compileScript = "import sys, compileall; sys.exit(0 if compileall.compile_dir('" + RuntimeGuestDir + "', quiet=1) else 1)"

// EnvVar marks a process as an interpreter worker and carries its Config,
// as JSON.
const EnvVar = "WASIPY_INTERP_WORKER"

// Descriptors the worker inherits beside stdin, stdout and stderr.
const (
	// InterruptFD is the worker's end of the interrupt pipe (8-byte
	// big-endian request frame numbers, see interrupt.Relay).
	InterruptFD = 3
	// QuotaFD carries the disk quota's shared counters, when there is a
	// quota (see sandboxfs.Quota).
	QuotaFD = 4
)

// Config is everything the worker is told by the kernel process. The
// kernel process works out every path and limit; the worker applies them.
type Config struct {
	// PythonWasm is the WASI CPython command module to run.
	PythonWasm string `json:"python_wasm"`
	// CacheDir is the code cache (see codecache); "" runs without one.
	CacheDir string `json:"cache_dir,omitempty"`
	// KeyFile holds the key that seals the code cache's manifest.
	KeyFile string `json:"key_file,omitempty"`
	// PycacheDir is the runtime's bytecode folder in the cache; "" none.
	PycacheDir string `json:"pycache_dir,omitempty"`
	// PrepareInto, when set, makes the worker compile the runtime's
	// bytecode into this host folder and exit, running no user code.
	PrepareInto string `json:"prepare_into,omitempty"`
	// PrepareImage, when set, makes the worker take an image of the
	// prepared interpreter, store it in the cache and exit, running no
	// session.
	PrepareImage bool `json:"prepare_image,omitempty"`
	// UseImage lets a start use the cache's image of the interpreter.
	UseImage bool `json:"use_image,omitempty"`
	// SnapshotDir holds the sessions' snapshots (%snapshot save), sealed
	// like the code cache; "" keeps none.
	SnapshotDir string `json:"snapshot_dir,omitempty"`
	// Snapshot names the snapshot to start from instead of the image.
	Snapshot string `json:"snapshot,omitempty"`
	// WorkDir is mounted read-write at its own path and is the guest's
	// working directory.
	WorkDir string `json:"work_dir,omitempty"`
	// ImportPaths are mounted read-only at their own paths.
	ImportPaths []string `json:"import_paths,omitempty"`
	// Mounts are host folders mounted read-only at other guest paths.
	Mounts []Mount `json:"mounts,omitempty"`
	// Hidden are host paths no mount may reach (complete: the kernel
	// process adds its caches, data dir and interpreter).
	Hidden []string `json:"hidden,omitempty"`
	// Quota says whether QuotaFD carries the disk quota's counters, and
	// its limits.
	Quota      bool  `json:"quota,omitempty"`
	QuotaBytes int64 `json:"quota_bytes,omitempty"`
	QuotaFiles int64 `json:"quota_files,omitempty"`
	// Env adds variables to the guest's environment.
	Env map[string]string `json:"env,omitempty"`
	// MemoryLimitPages caps the guest's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32 `json:"memory_limit_pages"`
}

// Mount is a host folder mounted read-only at a guest path.
type Mount struct {
	Host  string `json:"host"`
	Guest string `json:"guest"`
}
