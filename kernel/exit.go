package kernel

import (
	"log/slog"
	"sync"
)

// Cell code that ends its own process (os._exit(n), os.kill(os.getpid(),
// SIGTERM), os.abort(): interp/runtime/_wasipy_process.py makes them all a
// clean exit of the interpreter, which the Interpreter reports as a
// GuestExit) ends the kernel when Options.EndOnExit is set, as ipykernel's
// process ends: the client sees the kernel die (nbclient raises
// DeadKernelError, a notebook server's restarter starts a new one). The
// cell gets no reply, as with ipykernel. A crash (a trap, the worker
// killed) and a restart forced by a second interrupt are not asked for by
// the code and still only replace the interpreter.

// exitState records that cell code ended the kernel, once.
type exitState struct {
	endOnExit bool
	ended     chan struct{}
	once      sync.Once
	code      int
}

func newExitState(endOnExit bool) exitState {
	return exitState{endOnExit: endOnExit, ended: make(chan struct{})}
}

// endedByGuest reports whether err says the interpreter ended by its own
// exit call and the kernel ends with it; the caller then neither replies
// nor restarts.
func (e *exitState) endedByGuest(err error, log *slog.Logger) bool {
	if !e.endOnExit {
		return false
	}
	code, ok := guestExit(err)
	if !ok {
		return false
	}
	e.once.Do(func() {
		log.Warn("the notebook's code ended the interpreter's process; the kernel ends too, as ipykernel does", "status", code)
		e.code = code
		close(e.ended)
	})
	return true
}

// hasEnded reports whether cell code ended the kernel: nothing is to be
// restarted then.
func (e *exitState) hasEnded() bool {
	select {
	case <-e.ended:
		return true
	default:
		return false
	}
}

// Ended is closed when cell code ended the kernel's process (EndOnExit);
// ExitCode is then the status the kernel process should exit with.
func (k *Kernel) Ended() <-chan struct{} { return k.exit.ended }

// ExitCode is the status cell code asked for, once Ended is closed.
func (k *Kernel) ExitCode() int {
	if !k.exit.hasEnded() {
		return 0
	}
	return k.exit.code
}
