// Command phases times the pieces of wasipy's interpreter start on their
// own, outside the kernel, so that bench/run.py can say what dominates the
// start-up figure: reading the module, compiling it from wazero's
// compilation cache, starting CPython to its first statement, importing the
// stdlib modules the kernel's Python-side runtime imports at start, and
// compiling the runtime's own sources (which have no cached bytecode).
//
// It is a benchmark helper, not part of the kernel: it runs the module with
// wazero's stock WASI (real clocks), no channel. The module may be the
// original python.wasm or the kernel's stripped copy: DWARF sections are
// dropped here as the kernel does, so that the same code is compiled and
// the kernel's compilation cache is hit.
//
//	phases -module PYTHON.wasm -cache DIR [-imports a,b] [-extra c]
//	       [-runtime DIR -compile x.py,y.py] [-runs 3]
//
// It prints one JSON object with the figures in seconds (medians).
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
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

type options struct {
	module       string
	cacheDir     string
	imports      []string
	extra        []string
	runtimeDir   string
	compileFiles []string
	runs         int
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
	// RuntimeCompile is timed inside the guest: compiling the runtime's
	// sources from text, as every kernel start does.
	RuntimeCompile float64  `json:"runtime_compile"`
	CompileFiles   []string `json:"compile_files"`
}

// guestRuntimeDir is where -runtime is mounted in the guest.
const guestRuntimeDir = "/bench-runtime"

func main() {
	var o options
	var imports, extra, files string
	flag.StringVar(&o.module, "module", "", "python.wasm (or the kernel's stripped copy)")
	flag.StringVar(&o.cacheDir, "cache", "", "wazero compilation cache directory")
	flag.StringVar(&imports, "imports", "", "comma-separated stdlib modules the runtime imports at start")
	flag.StringVar(&extra, "extra", "", "comma-separated modules to time on their own")
	flag.StringVar(&o.runtimeDir, "runtime", "", "the kernel's Python-side runtime folder")
	flag.StringVar(&files, "compile", "", "comma-separated .py files under -runtime to compile in the guest")
	flag.IntVar(&o.runs, "runs", 3, "samples per figure (the median is reported)")
	flag.Parse()
	if o.module == "" || o.runs < 1 {
		fmt.Fprintln(os.Stderr, "phases: -module is required (and -runs >= 1)")
		os.Exit(2)
	}
	o.imports, o.extra, o.compileFiles = split(imports), split(extra), split(files)
	out, err := measure(o)
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

func measure(o options) (*result, error) {
	ctx := context.Background()
	res := &result{Imports: o.imports, Extra: map[string]float64{}, CompileFiles: o.compileFiles}

	t := time.Now()
	wasm, err := os.ReadFile(o.module)
	if err != nil {
		return nil, err
	}
	res.ReadModule = time.Since(t).Seconds()
	if wasm, res.Stripped, err = withoutDebugSections(wasm); err != nil {
		return nil, err
	}

	rc := wazero.NewRuntimeConfig()
	if o.cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(o.cacheDir)
		if err != nil {
			return nil, err
		}
		rc = rc.WithCompilationCache(cache)
		res.CompileCached = true
		// The kernel's own cache is sealed (interp/cacheauth.go) and this
		// tool cannot read it, so it fills wazero's plain cache first, not
		// counted, and then times a compile from it.
		warm := wazero.NewRuntimeWithConfig(ctx, rc)
		if _, err := warm.CompileModule(ctx, wasm); err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		warm.Close(ctx)
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

	// run runs `python -c code` runs times; it returns the median of the
	// wall time from instantiation to exit and of the number the guest
	// printed last, if any.
	run := func(code string) (wall, printed float64, err error) {
		var walls, prints []float64
		for i := 0; i < o.runs; i++ {
			var stdout, stderr bytes.Buffer
			fsc := wazero.NewFSConfig()
			if o.runtimeDir != "" {
				fsc = fsc.WithReadOnlyDirMount(o.runtimeDir, guestRuntimeDir)
			}
			mc := wazero.NewModuleConfig().
				WithName("").
				WithArgs("python", "-s", "-c", code).
				WithStdout(&stdout).
				WithStderr(&stderr).
				WithFSConfig(fsc).
				WithWalltime(walltime, sys.ClockResolution(time.Microsecond)).
				WithNanotime(nanotime, sys.ClockResolution(1)).
				WithRandSource(rand.Reader).
				WithEnv("LANG", "C.UTF-8").
				WithEnv("PYTHONDONTWRITEBYTECODE", "1")
			t := time.Now()
			var err error
			if compiled.ExportedFunctions()["wasipy_main"] != nil {
				// wasipy's own build is a reactor: `python ARGS` is its
				// wasipy_main, after the constructors.
				var mod api.Module
				if mod, err = r.InstantiateModule(ctx, compiled, mc.WithStartFunctions("_initialize")); err == nil {
					var res []uint64
					if res, err = mod.ExportedFunction("wasipy_main").Call(ctx); err == nil && len(res) > 0 && res[0] != 0 {
						err = sys.NewExitError(uint32(res[0]))
					}
				}
			} else {
				_, err = r.InstantiateModule(ctx, compiled, mc)
			}
			d := time.Since(t).Seconds()
			var exit *sys.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
				return 0, 0, fmt.Errorf("python -c %q: %w: %s", code, err, stderr.String())
			}
			walls = append(walls, d)
			if f := strings.Fields(stdout.String()); len(f) > 0 {
				if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
					prints = append(prints, v)
				}
			}
		}
		return median(walls), median(prints), nil
	}

	if res.Pass, _, err = run("pass"); err != nil {
		return nil, err
	}
	if len(o.imports) > 0 {
		// One by one, and forgiving: the list is what sys.modules held in
		// a kernel, which includes aliases and modules only a parent can
		// load.
		list, _ := json.Marshal(o.imports)
		code := "for m in " + string(list) + ":\n" +
			"    try: __import__(m)\n" +
			"    except Exception: pass\n"
		if res.RuntimeImports, _, err = run(code); err != nil {
			return nil, err
		}
	}
	for _, m := range o.extra {
		if res.Extra[m], _, err = run("import " + m); err != nil {
			return nil, err
		}
	}
	if o.runtimeDir != "" && len(o.compileFiles) > 0 {
		paths := make([]string, len(o.compileFiles))
		for i, f := range o.compileFiles {
			paths[i] = guestRuntimeDir + "/" + f
		}
		list, _ := json.Marshal(paths)
		code := "import time\n" +
			"t = time.perf_counter()\n" +
			"for p in " + string(list) + ":\n" +
			"    with open(p, encoding='utf-8') as f: compile(f.read(), p, 'exec')\n" +
			"print(time.perf_counter() - t)\n"
		if _, res.RuntimeCompile, err = run(code); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
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
