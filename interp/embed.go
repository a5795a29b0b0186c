package interp

import "embed"

// runtimeFiles is the Python side of the kernel, mounted read-only in the
// guest at runtimeGuestDir.
//
//go:embed all:runtime
var runtimeFiles embed.FS
