package worker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The standard library is mounted only for an interpreter that has one
// beside it, zipped or as a folder, as build/python/build.sh installs it.
func TestStdlibDirBesidePythonWasm(t *testing.T) {
	touch := func(path string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, nil, 0o644))
	}
	zipped := t.TempDir()
	touch(filepath.Join(zipped, "lib", "python313.zip"))
	folder := t.TempDir()
	touch(filepath.Join(folder, "lib", "python3.13", "os.py"))
	bare := t.TempDir() // the npm build: the library is inside the module
	emptyLib := t.TempDir()
	touch(filepath.Join(emptyLib, "lib", "python3.13", "README"))

	require.Equal(t, filepath.Join(zipped, "lib"), stdlibDir(filepath.Join(zipped, "python.wasm")))
	require.Equal(t, filepath.Join(folder, "lib"), stdlibDir(filepath.Join(folder, "python.wasm")))
	require.Empty(t, stdlibDir(filepath.Join(bare, "python.wasm")))
	require.Empty(t, stdlibDir(filepath.Join(emptyLib, "python.wasm")))
	require.Empty(t, stdlibDir(""))
}
