package interp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

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
