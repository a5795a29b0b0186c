package interp

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/interp/internal/pipe"
)

// EvalAsync runs Python code with top-level await (Pyodide's
// runPythonAsync) as a task of the session's event loop, in a fresh
// namespace with `args` bound to the given arguments, and returns the
// converted value of its last expression (nil when it ends with a
// statement). Other tasks, and a cell that is awaiting, keep running
// meanwhile. Cancelling ctx cancels the task; a Python exception comes
// back as a *PythonError. Inside a blocking Func (Module.Funcs) the task
// cannot run before the Func returns, since Python waits for it: called
// with that Func's ctx it returns ErrBlockingCall at once; await from an
// awaitable one (Module.Async) instead, or use Eval there.
func (p *Process) EvalAsync(ctx context.Context, code string, args ...any) (any, error) {
	return p.await(ctx, &guestproto.PyAwaitRequest{Code: code}, args)
}

// ErrBlockingCall is returned at once by EvalAsync, ExecAsync and Await
// called with the context of a Go function that Python waits for without
// awaiting it (a Module.Funcs function, a Go function called through a
// GoProxy): Python's event loop cannot run the task until that function
// returns, so waiting would only last until ctx's deadline. Use Eval
// there, or make the function awaitable (Module.Async).
var ErrBlockingCall = errors.New("interp: awaiting Python from inside a Go call that Python waits for: its event loop cannot run until the call returns (use Eval there, or Module.Async)")

// blockingCall marks the context of a Go call that Python waits for
// synchronously; its value is the *Process.
type blockingCall struct{}

// ExecAsync is EvalAsync in the session's own namespace (the one cells
// run in): names it assigns are seen by later cells, and it sees theirs.
func (p *Process) ExecAsync(ctx context.Context, code string) (any, error) {
	return p.await(ctx, &guestproto.PyAwaitRequest{Code: code, UserNS: true}, nil)
}

// await sends a py_await request and waits for its reply, which comes
// when the task ends. When ctx ends first, the guest is told to cancel
// the task (py_cancel), and its late reply is dropped.
func (p *Process) await(ctx context.Context, req *guestproto.PyAwaitRequest, args []any) (any, error) {
	if owner, _ := ctx.Value(blockingCall{}).(*Process); owner == p {
		return nil, ErrBlockingCall
	}
	c := &codec{p: p}
	enc, err := c.encodeList(args)
	if err != nil {
		return nil, err
	}
	if req.Args, err = json.Marshal(enc); err != nil {
		return nil, err
	}
	var id int64
	raw, buffers, err := p.roundTripWith(ctx, string(guestproto.PyAwait), &Payload{Content: req, Buffers: c.buffers}, nil, false, func(requestID int64) { id = requestID })
	if err != nil {
		if ctx.Err() != nil && id != 0 {
			msg, _ := guestproto.Encode(&guestproto.Message{Type: guestproto.PyCancel, ID: id})
			_ = p.send(pipe.Message, msg)
		}
		return nil, err
	}
	return p.pyResult(raw, buffers)
}
