// Package interp runs Python: CPython compiled to WebAssembly (WASI),
// inside wazero, in a worker process of its own, and speaks to it.
//
// Start launches a worker (this same program, which must call WorkerMain
// first thing) and returns a Process: Call runs one request of the guest
// protocol ("execute", "complete", ...) and hands every event the guest
// produces (stream output, results, errors, comm messages) to a callback,
// in the order the guest made them. Interrupt stops running Python code
// with KeyboardInterrupt (sleeps and waits included); Close ends the
// interpreter at once.
//
// The worker gives the guest a sandbox: the embedded Python-side runtime
// (runtime/, read-only), a working folder (read-write, at its own path),
// optional read-only package folders, a small fixed environment, and real
// clocks, sleeps and randomness. Nothing else of the host.
//
// interp is also an embedding API for Python modules written in Go: a
// Module's functions become a Python module's functions, sync or
// awaitable; values are converted both ways (see Tuple for the table);
// what is not converted travels as a handle (PyObject in Go, GoProxy in
// Python); errors cross both ways (GuestError, PythonError); and Eval and
// PyObject.CallMethod call back into Python. See the package Example.
//
// interp knows nothing of ZeroMQ or Jupyter's wire: the kernel package
// turns events into messages.
package interp
