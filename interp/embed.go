package interp

import (
	"embed"
	"io/fs"

	"github.com/wasipy/wasipy/interp/internal/worker"
)

// runtimeFiles is the Python side of the kernel, mounted read-only in the
// guest (worker.RuntimeGuestDir).
//
//go:embed all:runtime
var runtimeFiles embed.FS

// WorkerMain runs the worker when the current process was started as one
// (see Start), and exits; it returns false otherwise. Call it first thing
// in main, and in TestMain of packages whose tests start interpreters.
func WorkerMain() bool {
	runtime, err := fs.Sub(runtimeFiles, "runtime")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	return worker.Main(runtime)
}
