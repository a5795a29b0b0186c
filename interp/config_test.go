package interp

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// The worker mounts what it is told: the kernel's own folders (the code
// cache, the data dir with the cache's key, the interpreter and the
// standard library beside it) must be in the hidden list it gets, with
// the embedder's.
func TestWorkerConfigHidesTheKernelsFolders(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASIPY_DATA_DIR", data)
	wasm := filepath.Join(t.TempDir(), "py", "python.wasm")
	cfg := Config{
		PythonWasm:  wasm,
		CacheDir:    "/cache",
		WorkDir:     "/work",
		ImportPaths: []string{"/pkgs"},
		Hidden:      []string{"/work/.secrets"},
		MemoryLimit: 100 << 20,
		DiskQuota:   &sandboxfs.Quota{MaxBytes: 5, MaxFiles: 6},
	}
	w := workerConfig(cfg)
	for _, p := range []string{"/work/.secrets", "/cache", data, wasm, filepath.Dir(wasm)} {
		require.Contains(t, w.Hidden, p)
	}
	require.Equal(t, filepath.Join(data, "cache.key"), w.KeyFile)
	require.Equal(t, pycacheDir(cfg), w.PycacheDir)
	require.EqualValues(t, 1600, w.MemoryLimitPages)
	require.True(t, w.Quota)
	require.EqualValues(t, 5, w.QuotaBytes)
	require.EqualValues(t, 6, w.QuotaFiles)
	require.Equal(t, []string{"/pkgs"}, w.ImportPaths)
	require.Empty(t, w.PrepareInto)

	// Without a quota the worker opens no quota descriptor.
	cfg.DiskQuota = nil
	require.False(t, workerConfig(cfg).Quota)
}
