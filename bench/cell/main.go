// Command cell runs one cell of Python in wasipy's interpreter worker (the
// set-up a kernel uses) and prints its output and the wall time of the cell
// alone, for profiling CPU-bound code under wazero, e.g.
//
//	go build -tags perfmap -o /tmp/cell ./bench/cell
//	perf record -g -o /tmp/perf.data /tmp/cell -cache-dir "" \
//	    -wasm $HOME/.local/share/wasipy/python3.13/python.wasm \
//	    -code 'x=0
//	for i in range(3_000_000): x += i & 7'
//	perf report -i /tmp/perf.data --sort dso,sym
//
// With the perfmap build tag, wazero writes /tmp/perf-PID.map for the code
// it compiles, so perf names the guest's functions (CPython's, from the
// module's name section) instead of showing anonymous memory. Give
// -cache-dir "" for that: code loaded from a cache is not mapped, and with a
// cache the module is compiled in a process of its own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wasipy/wasipy/interp"
)

func main() {
	if interp.WorkerMain() {
		return
	}
	wasm := flag.String("wasm", interp.PythonWasm(), "the python.wasm to run")
	code := flag.String("code", "", "the cell's Python code")
	cache := flag.String("cache-dir", interp.DefaultCacheDir(), `compiled-code cache ("": none, so that the worker compiles the module itself, as perf maps need)`)
	flag.Parse()
	if *code == "" {
		fmt.Fprintln(os.Stderr, "cell: -code is required")
		os.Exit(2)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-cell-")
	check(err)
	defer os.RemoveAll(dir)
	p, err := interp.Start(ctx, interp.Config{PythonWasm: *wasm, CacheDir: *cache, WorkDir: dir, Stderr: os.Stderr})
	check(err)
	defer p.Close()
	t0 := time.Now()
	raw, err := p.Call(ctx, "execute", map[string]any{"code": *code, "execution_count": 1}, func(e interp.Event) {
		if e.Type == "stream" {
			var s struct{ Text string }
			if json.Unmarshal(e.Content, &s) == nil {
				fmt.Print(s.Text)
			}
		}
	})
	check(err)
	fmt.Fprintf(os.Stderr, "cell: %.3fs, reply %s\n", time.Since(t0).Seconds(), raw)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cell:", err)
		os.Exit(1)
	}
}
