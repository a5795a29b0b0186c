//go:build unix

package launcher

import "syscall"

// ProcessGroup is the kernel's process group, which the payload reports
// (gateways may signal the group of a kernel they started locally).
func ProcessGroup() int { return syscall.Getpgrp() }
