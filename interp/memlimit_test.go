package interp

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemoryLimitPages(t *testing.T) {
	require.Equal(t, uint32(DefaultMemoryLimit/wasmPageSize), memoryLimitPages(0))
	require.Equal(t, uint32(65536), memoryLimitPages(MaxMemoryLimit))
	require.Equal(t, uint32(65536), memoryLimitPages(1<<40), "never past what wasm32 addresses")
	require.Equal(t, uint32(8192), memoryLimitPages(512<<20))
	require.Equal(t, uint32(8192), memoryLimitPages(512<<20+wasmPageSize-1), "whole pages, rounded down")
}

// Past the cap the cell gets MemoryError and the session lives on.
func TestMemoryLimitRaisesMemoryError(t *testing.T) {
	wasm := testWasm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, Config{PythonWasm: wasm, CacheDir: DefaultCacheDir(), WorkDir: t.TempDir(), Stderr: os.Stderr, MemoryLimit: 128 << 20})
	require.NoError(t, err)
	defer p.Close()

	reply, _ := execute(t, p, "a = 1")
	require.Equal(t, "ok", reply["status"], reply)
	reply, _ = execute(t, p, "b = bytearray(160 * 2**20)")
	require.Equal(t, "error", reply["status"], reply)
	require.Equal(t, "MemoryError", reply["ename"], reply)
	reply, _ = execute(t, p, "def grow():\n    keep = []\n    while True:\n        keep.append(bytearray(2**20))\ngrow()")
	require.Equal(t, "MemoryError", reply["ename"], reply)
	reply, rec := execute(t, p, "print(a, 'b' in globals(), len(bytearray(32 * 2**20)))")
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "1 False 33554432\n", rec.stream("stdout"))
}
