package interp

import (
	"os/exec"
	"syscall"
)

// tieToParent makes the worker die with the kernel process, even when the
// kernel is killed with SIGKILL and cannot clean up.
func tieToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
