package sandboxfs

import (
	"os"
	"path/filepath"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// The cost of the fence and of the quota, beside a plain *os.File and
// wazero's own directory mount (run: go test -bench . -run '^$' ./interp/sandboxfs/).

func BenchmarkOpenClose(b *testing.B) {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f.txt"), []byte("x"), 0o644)
	b.Run("os", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f, err := os.Open(filepath.Join(dir, "a", "b", "f.txt"))
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	fsys, err := New(dir, Options{Hidden: []string{filepath.Join(dir, ".cache")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sandboxfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f, e := fsys.OpenFile("a/b/f.txt", experimentalsys.O_RDONLY, 0)
			if e != 0 {
				b.Fatal(e)
			}
			f.Close()
		}
	})
}

func BenchmarkWrite4K(b *testing.B) {
	buf := make([]byte, 4096)
	run := func(b *testing.B, q *Quota) {
		fsys, err := New(b.TempDir(), Options{Quota: q})
		if err != nil {
			b.Fatal(err)
		}
		f, e := fsys.OpenFile("out", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
		if e != 0 {
			b.Fatal(e)
		}
		defer f.Close()
		b.SetBytes(int64(len(buf)))
		for i := 0; i < b.N; i++ {
			if i%1024 == 0 {
				f.Seek(0, 0) // stay within a few MiB of disk
			}
			if _, e := f.Write(buf); e != 0 {
				b.Fatal(e)
			}
		}
	}
	b.Run("no-quota", func(b *testing.B) { run(b, nil) })
	b.Run("quota", func(b *testing.B) {
		q, err := NewQuota(1<<40, 0)
		if err != nil {
			b.Fatal(err)
		}
		run(b, q)
	})
}
