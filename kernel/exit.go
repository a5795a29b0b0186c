package kernel

import (
	"errors"

	"github.com/wasipy/wasipy/interp"
)

// Cell code that ends its own process (os._exit(n), os.kill(os.getpid(),
// SIGTERM), os.abort(): interp/runtime/_wasipy_process.py makes them all a
// clean exit of the interpreter) ends the kernel when Options.EndOnExit is
// set, as ipykernel's process ends: the client sees the kernel die
// (nbclient raises DeadKernelError, a notebook server's restarter starts
// a new one). The cell gets no reply, as with ipykernel. A crash (a trap,
// the worker killed) and a restart forced by a second interrupt are not
// asked for by the code and still only replace the interpreter.

// guestExit reports whether err says the interpreter ended by its own
// exit call (proc_exit), and with which status.
func guestExit(err error) (int, bool) {
	var e *interp.ExitError
	if !errors.As(err, &e) || e.Reason != "" || e.Signal != "" {
		return 0, false
	}
	return int(e.Code), true
}

// endByGuest ends the kernel with the guest's exit status, once.
func (k *Kernel) endByGuest(code int) {
	k.endOnce.Do(func() {
		k.log.Warn("the notebook's code ended the interpreter's process; the kernel ends too, as ipykernel does", "status", code)
		k.exitCode = code
		close(k.ended)
	})
}

// Ended is closed when cell code ended the kernel's process (EndOnExit);
// ExitCode is then the status the kernel process should exit with.
func (k *Kernel) Ended() <-chan struct{} { return k.ended }

// hasEnded reports whether cell code ended the kernel: nothing is to be
// restarted then.
func (k *Kernel) hasEnded() bool {
	select {
	case <-k.ended:
		return true
	default:
		return false
	}
}

// ExitCode is the status cell code asked for, once Ended is closed.
func (k *Kernel) ExitCode() int {
	select {
	case <-k.ended:
		return k.exitCode
	default:
		return 0
	}
}

// endedByGuest reports whether in ended by its own exit call and the
// kernel ends with it; the caller then neither replies nor restarts.
func (k *Kernel) endedByGuest(in Interpreter, err error) bool {
	if !k.opts.EndOnExit {
		return false
	}
	if err == nil {
		if e, ok := in.(interface{ Err() error }); ok {
			err = e.Err()
		}
	}
	code, ok := guestExit(err)
	if ok {
		k.endByGuest(code)
	}
	return ok
}
