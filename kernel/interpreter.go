package kernel

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// Interpreter is the kernel's seam with a language (in the spirit of
// xeus's xinterpreter): typed requests in, typed replies out, and what a
// request produces meanwhile goes to its Publisher. The adapter in
// interp/jupyter makes an interp.Process one; kernel tests use a fake.
//
// An error return means the interpreter could not answer at all (it died,
// ctx ended); a reply whose status is "error" is the language's answer.
type Interpreter interface {
	// KernelInfo is the language's part of kernel_info_reply (language
	// info, banner, help links); the kernel adds its own names.
	KernelInfo() content.KernelInfoReply
	Execute(ctx context.Context, req content.ExecuteRequest, cell Cell, pub Publisher) (content.ExecuteReply, error)
	Complete(ctx context.Context, req content.CompleteRequest) (content.CompleteReply, error)
	Inspect(ctx context.Context, req content.InspectRequest) (content.InspectReply, error)
	IsComplete(ctx context.Context, req content.IsCompleteRequest) (content.IsCompleteReply, error)
	// CommInfo lists the comms the interpreter's code holds: the
	// interpreter is their only record.
	CommInfo(ctx context.Context, req content.CommInfoRequest) (content.CommInfoReply, error)
	// Comm hands the interpreter a frontend's comm_open, comm_msg or
	// comm_close of a comm it owns (or a comm_open to a target not served
	// by Go); what its handlers produce goes to pub.
	Comm(ctx context.Context, msg comm.Message, pub Publisher) error
	// Debug answers a debug_request (a Debug Adapter Protocol request of
	// the frontend's debugger). Unlike the others it is called while
	// Execute runs too: a cell stopped at a breakpoint answers it. Events
	// of the debugger go to Host.DebugEvent.
	Debug(ctx context.Context, req content.DebugRequest) (content.DebugReply, error)
	// Interrupt stops the running request as KeyboardInterrupt does.
	Interrupt() error
	// Close ends the interpreter at once.
	Close() error
	// Done is closed when the interpreter has ended; Err then says how.
	Done() <-chan struct{}
	Err() error
}

// Cell is what the kernel adds to an execute_request for the interpreter.
type Cell struct {
	// ExecutionCount is the cell's number (not incremented for a cell that
	// does not store history).
	ExecutionCount int
	// Parent is the execute_request's header: output of tasks the cell
	// starts is later published under it (Host.Background).
	Parent protocol.Header
}

// Publisher receives what a request produces, in order, and puts it on
// iopub under that request, within the cell's output budget. It is also a
// display.Publisher, so Go code can show displays through it.
type Publisher interface {
	display.Publisher
	Stream(name, text string)
	Error(content.Error)
	// Comm publishes a comm message the interpreter's code sent.
	Comm(comm.Message)
}

// Host is what the kernel offers an interpreter it starts.
type Host interface {
	// Background is where output goes that arrives while no request runs,
	// or that names an earlier execute_request by msg_id (output of a task
	// a cell started); "" is the last cell.
	Background(parentID string) Publisher
	// Input asks the frontend of the running cell for a line of text
	// (input(), getpass); see InputError for its failures.
	Input(ctx context.Context, prompt string, password bool) (string, error)
	// DebugEvent publishes an event of the interpreter's debugger
	// (stopped, continued, output, ...) as iopub's debug_event.
	DebugEvent(content.DebugEvent)
}

// Starter starts a fresh interpreter (at start-up and after a restart).
type Starter func(ctx context.Context, host Host) (Interpreter, error)

// Spare is where the supervisor takes the interpreters it starts when it
// is set (Options.Spare): an implementation may prepare the next one in
// the background, so that a restart swaps in one that is already up
// instead of waiting for a start.
type Spare interface {
	// Take returns a fresh interpreter for host: the prepared one when it
	// is ready and alive, else one started now. It may then begin
	// preparing the next. host is the same for every Take of a kernel.
	Take(ctx context.Context, host Host) (Interpreter, error)
	// Close ends the prepared interpreter, if any; Take is not called
	// after it.
	Close()
}

// Renewer is an Interpreter that can make a fresh interpreter of itself
// cheaply, in place (wasipy's: in the same worker process, from its
// image). An in-place restart keeps an idle Renewer instead of stopping
// it and asks it for the fresh interpreter; when that fails (it was busy
// after all, or ended), it is closed and a fresh one started as usual.
type Renewer interface {
	Interpreter
	// Renew ends this interpreter and returns a fresh one for host.
	Renew(ctx context.Context, host Host) (Interpreter, error)
}

// GuestExit is the error (returned by Execute, or by Err once Done is
// closed) of an interpreter whose code ended its own process: os._exit,
// os.kill of itself, os.abort. With Options.EndOnExit the kernel then ends
// with Code, as ipykernel's process does; a crash is any other error.
type GuestExit struct {
	Code int
	Err  error // the interpreter's own account
}

func (e *GuestExit) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("the interpreter exited with code %d", e.Code)
}

func (e *GuestExit) Unwrap() error { return e.Err }

// InputError is how Host.Input fails: the interpreter raises an exception
// of type Type (a builtin such as EOFError or KeyboardInterrupt, or
// StdinNotImplementedError) with Message.
type InputError struct {
	Type    string
	Message string
}

func (e *InputError) Error() string { return e.Type + ": " + e.Message }

// guestExit reports whether err says the interpreter ended by its own
// exit call, and with which status.
func guestExit(err error) (int, bool) {
	var e *GuestExit
	if !errors.As(err, &e) {
		return 0, false
	}
	return e.Code, true
}
