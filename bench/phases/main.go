// Command phases times the pieces of wasipy's interpreter start on their
// own, outside the kernel, so that bench/run.py can say what dominates the
// start-up figure: reading the module, compiling it from wazero's
// compilation cache, starting CPython to its first statement, and importing
// the modules the kernel's Python-side runtime imports at start.
//
// The module may be the original python.wasm or the kernel's stripped copy:
// DWARF sections are dropped here as the kernel does.
//
// It is a benchmark helper, not part of the kernel: it runs the module with
// wazero's stock WASI (real clocks), no mounts, no channel.
//
//	phases -module STRIPPED.wasm -cache DIR/wazero [-imports a,b,c] [-runs 3]
//
// It prints one JSON object with the figures in seconds.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func main() {
	module := flag.String("module", "", "the (stripped) python.wasm to run")
	cacheDir := flag.String("cache", "", "wazero compilation cache directory")
	importList := flag.String("imports", "", "comma-separated modules the runtime imports at start")
	extra := flag.String("extra", "asyncio", "comma-separated modules to time on their own, as a forecast")
	runs := flag.Int("runs", 3, "samples per figure (the median is reported)")
	flag.Parse()
	if *module == "" {
		fmt.Fprintln(os.Stderr, "phases: -module is required")
		os.Exit(2)
	}
	out, err := measure(*module, *cacheDir, split(*importList), split(*extra), *runs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "phases:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type result struct {
	ReadModule     float64            `json:"read_module"`
	Compile        float64            `json:"compile"`
	CompileCached  bool               `json:"compile_cached"`
	Stripped       bool               `json:"stripped_here"`
	Pass           float64            `json:"python_c_pass"`
	RuntimeImports float64            `json:"runtime_imports"`
	Imports        []string           `json:"imports"`
	Extra          map[string]float64 `json:"extra"`
}

func measure(module, cacheDir string, imports, extra []string, runs int) (*result, error) {
	ctx := context.Background()
	res := &result{Imports: imports, Extra: map[string]float64{}}

	t := time.Now()
	wasm, err := os.ReadFile(module)
	if err != nil {
		return nil, err
	}
	res.ReadModule = time.Since(t).Seconds()
	// The kernel compiles a copy without DWARF; so must this, or it would
	// time a different (7x slower) compile and miss the kernel's cache.
	if wasm, res.Stripped, err = withoutDebugSections(wasm); err != nil {
		return nil, err
	}

	rc := wazero.NewRuntimeConfig()
	if cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, err
		}
		rc = rc.WithCompilationCache(cache)
		res.CompileCached = true
	}
	t = time.Now()
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	res.Compile = time.Since(t).Seconds()

	run := func(code string) (float64, error) {
		var samples []float64
		for i := 0; i < runs; i++ {
			var stderr bytes.Buffer
			mc := wazero.NewModuleConfig().
				WithName("").
				WithArgs("python", "-s", "-c", code).
				WithStderr(&stderr).
				WithWalltime(walltime, sys.ClockResolution(time.Microsecond)).
				WithNanotime(nanotime, sys.ClockResolution(1)).
				WithRandSource(rand.Reader).
				WithEnv("LANG", "C.UTF-8").
				WithEnv("PYTHONDONTWRITEBYTECODE", "1")
			t := time.Now()
			_, err := r.InstantiateModule(ctx, compiled, mc)
			d := time.Since(t).Seconds()
			var exit *sys.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
				return 0, fmt.Errorf("python -c %q: %w: %s", code, err, stderr.String())
			}
			samples = append(samples, d)
		}
		sort.Float64s(samples)
		return samples[len(samples)/2], nil
	}

	if res.Pass, err = run("pass"); err != nil {
		return nil, err
	}
	if len(imports) > 0 {
		if res.RuntimeImports, err = run("import " + strings.Join(imports, ", ")); err != nil {
			return nil, err
		}
	}
	for _, m := range extra {
		if res.Extra[m], err = run("import " + m); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// withoutDebugSections drops the custom sections named ".debug_*" from a
// WebAssembly binary; stripped reports whether there were any.
func withoutDebugSections(b []byte) (out []byte, stripped bool, err error) {
	const header = 8 // magic and version
	if len(b) < header || string(b[:4]) != "\x00asm" {
		return nil, false, errors.New("not a WebAssembly binary")
	}
	out = append(make([]byte, 0, len(b)), b[:header]...)
	for i := header; i < len(b); {
		size, n := binary.Uvarint(b[i+1:])
		start := i + 1 + n
		if n <= 0 || size > uint64(len(b)-start) {
			return nil, false, errors.New("truncated section")
		}
		end := start + int(size)
		drop := false
		if b[i] == 0 { // custom section: name length, name, payload
			nameLen, m := binary.Uvarint(b[start:end])
			if m > 0 && nameLen <= uint64(end-start-m) {
				name := string(b[start+m : start+m+int(nameLen)])
				drop = strings.HasPrefix(name, ".debug_")
			}
		}
		if drop {
			stripped = true
		} else {
			out = append(out, b[i:end]...)
		}
		i = end
	}
	return out, stripped, nil
}

var start = time.Now()

func walltime() (int64, int32) {
	now := time.Now()
	return now.Unix(), int32(now.Nanosecond())
}

func nanotime() int64 { return int64(time.Since(start)) }
