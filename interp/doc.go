// Package interp runs Python from Go: CPython compiled to WebAssembly
// (WASI), inside wazero, in a worker process of its own.
//
// # Running code
//
// Start launches a worker (this same program, which must call WorkerMain
// first thing) and returns a Process once the interpreter is ready. Call
// sends one request and waits for its reply, handing every event the
// request produces to a callback, in the order Python made them:
//
//	reply, err := py.Call(ctx, "execute", map[string]any{"code": "print(1 + 1)"}, func(e interp.Event) {
//		// e.Type "stream", e.Content {"name": "stdout", "text": "2\n"}
//	})
//
// The requests are "execute" ({code}), "is_complete" ({code}),
// "complete" and "inspect" ({code, cursor_pos}); the events are output
// ("stream"), values shown ("execute_result", "display_data", ...) and
// exceptions ("error"). Interrupt stops running Python code with
// KeyboardInterrupt (sleeps and waits included); Close ends the
// interpreter at once; Done and Err say when and how it ended.
//
// # Go modules, values and handles
//
// A Module's functions become a Python module's functions, blocking or
// awaitable. Values are converted both ways (see Tuple for the table);
// what is not converted travels as a handle (PyObject in Go, GoProxy in
// Python); errors cross both ways (GuestError, PythonError); Eval and
// PyObject.CallMethod call back into Python, also from inside a Func. See
// the package Example.
//
// # The sandbox
//
// The worker gives the guest the embedded Python-side runtime
// (read-only), a working folder (read-write, at its own path), optional
// read-only package folders, a small fixed environment, a memory cap and
// an optional disk quota, and real clocks, sleeps and randomness. Nothing
// else of the host: see Config.
//
// # Layout
//
// This package is the embedding API and the kernel-process side of the
// worker (starting it, routing what the guest sends). The worker itself
// lives in interp/internal/worker and the packages beside it; the
// messages between host and guest are defined once, in
// interp/internal/guestproto. interp knows nothing of any wire protocol:
// the kernel package turns events into messages.
package interp
