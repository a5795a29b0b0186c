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
// awaitable; RegisterModule adds one to a running interpreter. Values are
// converted both ways (see Tuple for the table); what is not converted
// travels as a handle: a *PyObject in Go (GetAttr, SetItem, Len, Iter,
// Call with keyword arguments, Await, ...), a GoProxy in Python (fields,
// methods, map entries and slice elements of the Go value, len(),
// iteration, calls, to_py()). ByRef shares a Go value instead of copying
// it, SetConverter converts custom Go types, and Python's wasipy.to_go
// and wasipy.to_py do the same from the other side.
//
// One Go value is one GoProxy: the same pointer, map, channel or slice
// header sent again while Python holds its proxy arrives as that proxy
// (`a is b`; == and hash() follow). A Go function called through a
// GoProxy takes keyword arguments where Go can know them: they fill a
// trailing options struct (by field name, json tag or snake_case), or
// name parameters that Params declared.
//
// bytes, bytearray and memoryview cross as raw buffers, copied only by
// the pipes and into or out of the guest's memory (about 1 GB/s Go to
// Python and 1.5 GB/s back for large buffers: BenchmarkBytes). One
// message carries up to 256 MiB of buffers; larger fails with an error
// (a MemoryError in Python) and the interpreter serves on.
//
// Lifetimes: a PyObject is released when Go's garbage collector finds it
// unreachable, a GoProxy when Python collects it; PyObject.Release and
// GoProxy.destroy() let go at once, any number of times. GoHandles and
// PyHandles count what is held, for leak checks.
//
// Errors keep their identity: a Python exception is a *PythonError in Go,
// and the same exception object again if a Func returns it to Python. A
// Go error raises HostError, or the class a *GuestError names (a builtin
// such as ValueError, or one a Module declares in Errors);
// context.DeadlineExceeded raises TimeoutError; what an error wraps (%w)
// is the exception's __cause__.
//
// # Calling Python from Go
//
// Eval, EvalRef and the PyObject methods call into Python, EvalAsync and
// ExecAsync run code with top-level await as a task of the session's
// event loop and return its last value; cancelling their context cancels
// the task; with the context of a Func that Python waits for they fail at
// once (ErrBlockingCall). None of them waits for a running cell: while a cell awaits,
// they are served at its next await point (a goroutine can feed data into
// a running async cell); a cell that never awaits serves them when it
// ends, or their context ends first. In Python, wasipy.run_sync(aw) waits
// for an awaitable from synchronous code, even under an awaiting cell,
// and asyncio.run works there too (the loop runs nested).
//
// # Streams
//
// SetStreams takes stdout and stderr as raw bytes (NewLineWriter batches
// them into lines); SetStdin gives sys.stdin a reader. See the Examples.
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
