package interp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wasipy/wasipy/interp"
)

// A Python module implemented in Go, imported and called from Python,
// and Python called back from Go. (The test binary starts its own worker
// processes: see TestMain in this package, which calls interp.WorkerMain.)
func Example() {
	wasm := interp.PythonWasm()
	greeter := &interp.Module{
		Name: "greeter",
		Funcs: map[string]interp.Func{
			"greet": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return fmt.Sprintf("Hello, %s!", args[0]), nil
			},
		},
	}
	ctx := context.Background()
	py, err := interp.Start(ctx, interp.Config{
		PythonWasm: wasm,
		CacheDir:   interp.DefaultCacheDir(),
		WorkDir:    os.TempDir(),
		Modules:    []*interp.Module{greeter},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer py.Close()

	// Run a cell; its output arrives as events.
	var out strings.Builder
	_, err = py.Call(ctx, "execute", map[string]any{"code": "import greeter\nprint(greeter.greet('wasm'))"},
		func(e interp.Event) {
			var s struct{ Text string }
			_ = json.Unmarshal(e.Content, &s)
			out.WriteString(s.Text)
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(out.String())

	// Evaluate Python from Go: values come back converted.
	v, err := py.Eval(ctx, "(sum(args), 2**70)", int64(1), int64(2))
	fmt.Printf("%v %v\n", v, err)
	// Output:
	// Hello, wasm!
	// [3 1180591620717411303424] <nil>
}

// start starts an interpreter for the examples below.
func start(mods ...*interp.Module) *interp.Process {
	py, err := interp.Start(context.Background(), interp.Config{
		PythonWasm: interp.PythonWasm(),
		CacheDir:   interp.DefaultCacheDir(),
		WorkDir:    os.TempDir(),
		Modules:    mods,
	})
	if err != nil {
		panic(err)
	}
	return py
}

// Go awaits Python: code with top-level await runs as a task of the
// session's event loop and its last value comes back converted.
func ExampleProcess_EvalAsync() {
	py := start()
	defer py.Close()
	ctx := context.Background()
	v, err := py.EvalAsync(ctx, "import asyncio\nawait asyncio.sleep(0.01)\n{'answer': args[0] * 2}", 21)
	fmt.Println(v, err)

	// Cancelling the context cancels the Python task.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = py.EvalAsync(short, "import asyncio\nawait asyncio.sleep(60)")
	fmt.Println(err)
	// Output:
	// map[answer:42] <nil>
	// context deadline exceeded
}

// A Python awaitable that Go holds (here a coroutine) is awaited from Go.
func ExamplePyObject_Await() {
	py := start()
	defer py.Close()
	ctx := context.Background()
	coro, _ := py.EvalRef(ctx, "__import__('asyncio').sleep(0.01, result='woke up')")
	v, err := coro.Await(ctx)
	fmt.Println(v, err)
	// Output: woke up <nil>
}

// A Python object used from Go without Eval strings. Go's garbage
// collector releases it when it is no longer reachable; Release does it
// at once.
func ExamplePyObject() {
	py := start()
	defer py.Close()
	ctx := context.Background()
	counter, _ := py.EvalRef(ctx, "__import__('collections').Counter('abracadabra')")
	defer counter.Release()
	a, _ := counter.GetItem(ctx, "a")
	n, _ := counter.Len(ctx)
	top, _ := counter.CallMethodKw(ctx, "most_common", nil, map[string]any{"n": 2})
	_ = counter.SetAttr(ctx, "note", "set from Go")
	note, _ := counter.GetAttr(ctx, "note")
	fmt.Println(counter.Type(), a, n, top, note)
	for k, err := range counter.Iter(ctx) {
		if err == nil {
			fmt.Print(k, " ")
		}
	}
	fmt.Println()
	// Output:
	// Counter 5 5 [[a 5] [b 2]] set from Go
	// a b r c d
}

type inventory struct {
	Items map[string]int
	Owner string
}

func (i *inventory) Add(name string, n int) int { i.Items[name] += n; return i.Items[name] }

// A Go struct reaches Python as a GoProxy: fields, methods, items, len,
// iteration and to_py() work on the Go value itself.
func ExampleModule_goProxy() {
	inv := &inventory{Items: map[string]int{"apples": 3}, Owner: "ann"}
	py := start(&interp.Module{Name: "store", Funcs: map[string]interp.Func{
		"inventory": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) { return inv, nil },
	}})
	defer py.Close()
	_, _ = py.Call(context.Background(), "execute", map[string]any{"code": `
import store
inv = store.inventory()
inv.Add('pears', 2)
inv.Items['apples'] += 1
inv.Owner = inv.Owner.title()
print(inv.Owner, len(inv.Items), list(inv.Items), inv.to_py())
`}, printStream)
	fmt.Println(inv.Owner, inv.Items)
	// Output:
	// Ann 2 ['apples', 'pears'] {'Items': {'apples': 4, 'pears': 2}, 'Owner': 'Ann'}
	// Ann map[apples:4 pears:2]
}

func printStream(e interp.Event) {
	var s struct{ Text string }
	_ = json.Unmarshal(e.Content, &s)
	fmt.Print(s.Text)
}

// Go errors choose their Python class, and what they wrap becomes
// __cause__; a Python exception that passes through Go comes back as the
// same object.
func ExampleGuestError() {
	py := start(&interp.Module{
		Name:   "disk",
		Errors: map[string]string{"QuotaError": "OSError"},
		Funcs: map[string]interp.Func{
			"write": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return nil, &interp.GuestError{Type: "disk.QuotaError", Message: "quota exceeded",
					Cause: errors.New("42 bytes over")}
			},
			"call": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return args[0].(*interp.PyObject).Call(ctx, nil, nil)
			},
		},
	})
	defer py.Close()
	_, _ = py.Call(context.Background(), "execute", map[string]any{"code": `
import disk
try:
    disk.write()
except OSError as e:
    print(type(e).__name__, e, '<-', e.__cause__)
err = KeyError('k')
def fail():
    raise err
try:
    disk.call(fail)
except KeyError as e:
    print(e is err)
`}, printStream)
	// Output:
	// QuotaError quota exceeded <- 42 bytes over
	// True
}

// A goroutine's call reaches a cell that is awaiting: it is served at the
// cell's next await point.
func ExampleProcess_ExecAsync() {
	py := start()
	defer py.Close()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = py.Call(ctx, "execute", map[string]any{"code": `
import asyncio
news = asyncio.Queue()
print('cell got', await news.get())
`}, printStream)
	}()
	for {
		// NameError until the cell has made its queue.
		if _, err := py.ExecAsync(ctx, "news.put_nowait('hello from Go')"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-done
	// Output: cell got hello from Go
}

// Raw and batched output, stdin and a module added to a running
// interpreter.
func ExampleProcess_SetStreams() {
	py := start()
	defer py.Close()
	ctx := context.Background()
	lines := interp.NewLineWriter(func(line string) { fmt.Printf("line: %q\n", line) })
	py.SetStreams(interp.Streams{Stdout: lines})
	_ = py.SetStdin(ctx, strings.NewReader("from stdin\n"))
	_ = py.RegisterModule(ctx, &interp.Module{Name: "later", Funcs: map[string]interp.Func{
		"shout": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return strings.ToUpper(args[0].(string)), nil
		},
	}})
	_, _ = py.Call(ctx, "execute", map[string]any{"code": "import sys, later\nprint(later.shout(sys.stdin.readline().strip()))\nprint('two')"}, nil)
	// Output:
	// line: "FROM STDIN"
	// line: "two"
}

type celsius float64

// Conversion control: a Converter for custom Go types, ByRef to share a
// Go slice instead of copying it, and wasipy.to_go/to_py in Python.
func ExampleProcess_SetConverter() {
	readings := []float64{20.5, 21}
	py := start(&interp.Module{Name: "sensor", Funcs: map[string]interp.Func{
		"now": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) { return celsius(19.5), nil },
		"readings": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return interp.ByRef(readings), nil
		},
	}})
	defer py.Close()
	py.SetConverter(func(v any) (any, bool) {
		if c, ok := v.(celsius); ok {
			return map[string]any{"celsius": float64(c)}, true
		}
		return nil, false
	})
	_, _ = py.Call(context.Background(), "execute", map[string]any{"code": `
import sensor, wasipy
r = sensor.readings()
r[1] = 22.0
print(sensor.now(), wasipy.to_py(r))
`}, printStream)
	fmt.Println(readings)
	// Output:
	// {'celsius': 19.5} [20.5, 22.0]
	// [20.5 22]
}

// SearchOptions is the options struct of search: Python fills it with
// keyword arguments.
type SearchOptions struct {
	Limit      int
	IgnoreCase bool
}

// Keyword arguments reach Go functions called through a GoProxy: a
// trailing options struct takes them by field name (or snake_case), and
// Params names the parameters of a plain function.
func ExampleParams() {
	search := func(query string, o SearchOptions) string {
		return fmt.Sprintf("%q limit=%d ignore_case=%v", query, o.Limit, o.IgnoreCase)
	}
	scale := interp.Params(func(x, by float64) float64 { return x * by }, "x", "by")
	py := start(&interp.Module{Name: "tools", Funcs: map[string]interp.Func{
		"get": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return map[string]any{"search": search, "scale": scale}, nil
		},
	}})
	defer py.Close()
	_, _ = py.Call(context.Background(), "execute", map[string]any{"code": `
import tools
t = tools.get()
print(t['search']('go', limit=3, ignore_case=True))
print(t['scale'](2, by=1.5), t['scale'](by=2, x=4))
`}, printStream)
	// Output:
	// "go" limit=3 ignore_case=true
	// 3.0 8.0
}
