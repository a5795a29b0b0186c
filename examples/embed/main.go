// Command embed is a Go program that embeds wasipy: it starts a Python
// interpreter (CPython compiled to WebAssembly, in a worker process),
// gives it a module written in Go, runs async Python, awaits it from Go,
// and streams Python's output line by line.
//
//	go build -o embed ./examples/embed
//	WASIPY_PYTHON_WASM=/path/to/python.wasm ./embed
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wasipy/wasipy/interp"
)

func main() {
	// The same program is started again as the interpreter's worker:
	// WorkerMain runs it then, and returns false here otherwise.
	if interp.WorkerMain() {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// weather is the Go module: a blocking function, an awaitable one, and
// an error class of its own.
func weather() *interp.Module {
	temps := map[string]float64{"paris": 18.5, "oslo": 7}
	return &interp.Module{
		Name:   "weather",
		Errors: map[string]string{"UnknownCity": "KeyError"},
		Funcs: map[string]interp.Func{
			"cities": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return []any{"oslo", "paris"}, nil
			},
		},
		Async: map[string]interp.Func{
			"temperature": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				city, _ := args[0].(string)
				t, ok := temps[city]
				if !ok {
					return nil, &interp.GuestError{Type: "weather.UnknownCity", Message: city}
				}
				time.Sleep(20 * time.Millisecond) // a slow service
				return t, nil
			},
		},
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "wasipy-embed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	py, err := interp.Start(ctx, interp.Config{
		PythonWasm: interp.PythonWasm(),
		CacheDir:   interp.DefaultCacheDir(),
		WorkDir:    work,
		Modules:    []*interp.Module{weather()},
	})
	if err != nil {
		return err
	}
	defer py.Close()
	out := interp.NewLineWriter(func(line string) { fmt.Println("python says:", line) })
	py.SetStreams(interp.Streams{Stdout: out, Stderr: out})

	// Async Python, awaited from Go: the Go calls run concurrently.
	report, err := py.EvalAsync(ctx, `
import asyncio, weather
cities = weather.cities() + ['atlantis']
temps = await asyncio.gather(*(weather.temperature(c) for c in cities), return_exceptions=True)
for city, t in zip(cities, temps):
    print(f'{city}: {t!r}')
{c: t for c, t in zip(cities, temps) if not isinstance(t, Exception)}
`)
	if err != nil {
		return err
	}
	fmt.Println("Go got:", report)

	// A Python object used from Go.
	hist, err := py.EvalRef(ctx, "__import__('collections').Counter(args[0].split())", "to be or not to be")
	if err != nil {
		return err
	}
	top, err := hist.CallMethodKw(ctx, "most_common", nil, map[string]any{"n": 1})
	if err != nil {
		return err
	}
	fmt.Println("most common:", top)

	// A Python exception reaches Go typed.
	_, err = py.EvalAsync(ctx, "import weather\nawait weather.temperature('atlantis')")
	var pe *interp.PythonError
	if errors.As(err, &pe) {
		fmt.Println("Python raised:", pe.Type, strings.Trim(pe.Message, "'"))
	}
	out.Flush()
	return nil
}
