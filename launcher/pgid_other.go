//go:build !unix

package launcher

import "os"

// ProcessGroup is the process itself where there are no process groups.
func ProcessGroup() int { return os.Getpid() }
