//go:build !unix

package channel

import "time"

var processStart = time.Now()

// processCPUTime falls back to the time since start where rusage is missing.
func processCPUTime() int64 { return time.Since(processStart).Nanoseconds() }
