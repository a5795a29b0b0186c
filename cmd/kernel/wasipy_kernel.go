// Command wasipy-kernel is a Jupyter kernel that runs Python (CPython
// compiled to WebAssembly) in a wazero sandbox. Jupyter starts it from the
// kernelspec as `wasipy-kernel --connection-file FILE`; `wasipy-kernel
// kernelspec` writes or installs that kernelspec.
//
// Everything is in package kernelcmd; a kernel with more Go modules is a
// program like this one that passes them (examples/kernel-with-modules).
package main

import "github.com/wasipy/wasipy/kernelcmd"

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	kernelcmd.Main(kernelcmd.Options{Version: version})
}
