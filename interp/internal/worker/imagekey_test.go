package worker

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/codecache"
)

// The image key changes with everything an image depends on, and with
// nothing that a restored session re-establishes.
func TestImageKeyFollowsWhatTheImageDependsOn(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "python.wasm")
	require.NoError(t, os.WriteFile(wasm, []byte("x"), 0o644))
	lib := filepath.Join(dir, "lib")
	require.NoError(t, os.MkdirAll(lib, 0o755))
	zip := filepath.Join(lib, "python313.zip")
	require.NoError(t, os.WriteFile(zip, []byte("stdlib"), 0o644))

	base := func() (*guest, *codecache.Module) {
		return &guest{
			cfg:          Config{PythonWasm: wasm, WorkDir: "/notebooks/a", Env: map[string]string{"TOKEN": "1"}},
			runtimeFiles: fstest.MapFS{"_wasipy_kernel.py": {Data: []byte("v1")}},
			entry:        reactorEntry,
		}, &codecache.Module{Digest: "aaaa"}
	}
	key := func(g *guest, m *codecache.Module) string {
		k, err := g.imageKey(m)
		require.NoError(t, err)
		return k
	}
	g, m := base()
	want := key(g, m)

	// Re-established after a restore: the key stays.
	g, m = base()
	g.cfg.WorkDir, g.cfg.Env = "/notebooks/b", map[string]string{"TOKEN": "2", "HOME": "/x"}
	g.cfg.ImportPaths = []string{"/lib/extra"}
	g.cfg.MemoryLimitPages = 1234
	require.Equal(t, want, key(g, m), "session settings must not change the key")

	// What the image holds: the key changes.
	for name, change := range map[string]func(g *guest, m *codecache.Module){
		"interpreter": func(_ *guest, m *codecache.Module) { m.Digest = "bbbb" },
		"runtime": func(g *guest, _ *codecache.Module) {
			g.runtimeFiles = fstest.MapFS{"_wasipy_kernel.py": {Data: []byte("v2")}}
		},
		"PYTHON variable": func(g *guest, _ *codecache.Module) { g.cfg.Env = map[string]string{"PYTHONWARNINGS": "error"} },
		"locale":          func(g *guest, _ *codecache.Module) { g.cfg.Env = map[string]string{"LC_ALL": "C"} },
	} {
		t.Run(name, func(t *testing.T) {
			g, m := base()
			change(g, m)
			require.NotEqual(t, want, key(g, m))
		})
	}

	// Last, since it changes a file the others share.
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(zip, later, later))
	g, m = base()
	require.NotEqual(t, want, key(g, m), "a changed standard library")

	g, m = base()
	g.entry = commandEntry
	_, err := g.imageKey(m)
	require.Error(t, err, "a command build has no image")
}
