// Command cpu runs bench/cpu/suite.py on native CPython and on each given
// python.wasm inside wasipy's interpreter worker (the same wazero set-up,
// mounts and clocks a kernel uses), and prints a table of medians and
// ratios to the first native interpreter.
//
//	go run ./bench/cpu -native /usr/bin/python3 -wasm npm=$HOME/.local/share/wasipy/python.wasm \
//	    -wasm built=$HOME/.local/share/wasipy/python3.13/python.wasm [-json out.json]
//
// Each benchmark is timed inside its interpreter (time.perf_counter), so
// start-up and the kernel's messaging are not counted. Interpreters run one
// after the other, never at the same time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/wasipy/wasipy/interp"
)

type named struct{ name, path string }

type list []named

func (l *list) String() string { return fmt.Sprint(*l) }
func (l *list) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok {
		name, path = filepath.Base(v), v
	}
	*l = append(*l, named{name, path})
	return nil
}

func main() {
	if interp.WorkerMain() {
		return
	}
	var natives, wasms list
	flag.Var(&natives, "native", "NAME=PATH of a native python (repeatable)")
	flag.Var(&wasms, "wasm", "NAME=PATH of a python.wasm (repeatable)")
	jsonOut := flag.String("json", "", "also write the results here")
	flag.Parse()

	_, self, _, _ := runtime.Caller(0)
	suitePath := filepath.Join(filepath.Dir(self), "suite.py")
	suite, err := os.ReadFile(suitePath)
	check(err)

	results := map[string]map[string]float64{}
	var order []string
	for _, n := range natives {
		out, err := exec.Command(n.path, suitePath).Output()
		check(err)
		results[n.name] = parse(out)
		order = append(order, n.name)
	}
	for _, w := range wasms {
		results[w.name] = runWasm(w.path, string(suite))
		order = append(order, w.name)
	}

	var names []string
	for k := range results[order[0]] {
		names = append(names, k)
	}
	sort.Strings(names)
	base := order[0]
	fmt.Printf("%-16s", "benchmark (s)")
	for _, o := range order {
		fmt.Printf(" %14s", o)
	}
	for _, o := range order[1:] {
		fmt.Printf(" %14s", o+"/"+base)
	}
	fmt.Println()
	geo := make([]float64, len(order))
	for i := range geo {
		geo[i] = 1
	}
	for _, n := range names {
		fmt.Printf("%-16s", n)
		for _, o := range order {
			fmt.Printf(" %14.4f", results[o][n])
		}
		for i, o := range order[1:] {
			r := results[o][n] / results[base][n]
			geo[i+1] *= r
			fmt.Printf(" %14.2f", r)
		}
		fmt.Println()
	}
	fmt.Printf("%-16s", "geomean ratio")
	for range order {
		fmt.Printf(" %14s", "")
	}
	for i := range order[1:] {
		fmt.Printf(" %14.2f", math.Pow(geo[i+1], 1/float64(len(names))))
	}
	fmt.Println()
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		check(os.WriteFile(*jsonOut, b, 0o644))
	}
}

func runWasm(path, suite string) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cpu-bench-")
	check(err)
	defer os.RemoveAll(dir)
	p, err := interp.Start(ctx, interp.Config{PythonWasm: path, CacheDir: interp.DefaultCacheDir(), WorkDir: dir, Stderr: os.Stderr})
	check(err)
	defer p.Close()
	// The suite runs as a module of its own name, so that its functions
	// are module-level functions exactly as when run natively.
	code := "import json, types\n_m = types.ModuleType('suite')\nexec(compile(" + pyString(suite) +
		", 'suite.py', 'exec'), _m.__dict__)\nprint(json.dumps(_m.run()))\n"
	var out strings.Builder
	raw, err := p.Call(ctx, "execute", map[string]any{"code": code, "execution_count": 1}, func(e interp.Event) {
		if e.Type != "stream" {
			return
		}
		var s struct{ Name, Text string }
		if json.Unmarshal(e.Content, &s) == nil && s.Name == "stdout" {
			out.WriteString(s.Text)
		}
	})
	check(err)
	var reply struct{ Status, Evalue string }
	check(json.Unmarshal(raw, &reply))
	if reply.Status != "ok" {
		check(fmt.Errorf("%s: %s", path, reply.Evalue))
	}
	return parse([]byte(out.String()))
}

func parse(b []byte) map[string]float64 {
	m := map[string]float64{}
	check(json.Unmarshal(b, &m))
	return m
}

func pyString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a valid Python literal
	return string(b)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu bench:", err)
		os.Exit(1)
	}
}
