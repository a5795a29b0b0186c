package kernel

import (
	"context"

	"github.com/wasipy/wasipy/protocol/content"
)

// maxDebugQueue bounds the debug_requests waiting for the interpreter's
// debugger; past it a request is answered at once with a failure.
const maxDebugQueue = 64

// debugQueue serves debug_requests in the order they came, on a goroutine
// of their own. They cannot run on the control reader: one may wait for
// the interpreter for as long as a cell runs without stopping, and
// kernel_info and interrupt must still be answered meanwhile. They cannot
// run on the shell queue either: while a cell is stopped at a breakpoint,
// the shell is inside that cell, and the debugger's requests are what
// resumes it.
type debugQueue struct {
	requests chan request
}

func newDebugQueue() debugQueue {
	return debugQueue{requests: make(chan request, maxDebugQueue)}
}

// push queues r, or reports that the queue is full.
func (q debugQueue) push(r request) bool {
	select {
	case q.requests <- r:
		return true
	default:
		return false
	}
}

// serveDebug serves queued debug_requests until the kernel shuts down.
func (k *Kernel) serveDebug() {
	for {
		select {
		case <-k.quit:
			return
		case r := <-k.debug.requests:
			k.serve(context.Background(), r)
		}
	}
}

// queueDebug takes a debug_request from the control reader.
func (k *Kernel) queueDebug(r request) {
	if k.debug.push(r) {
		return
	}
	k.log.Warn("too many debug requests waiting; refusing one")
	var req content.DebugRequest
	_ = r.msg.DecodeContent(&req)
	if err := k.reply(r, "debug_reply", content.DebugFailure(req, "too many debug requests are waiting")); err != nil {
		k.log.Error("cannot send a debug_reply", "err", err)
	}
}

// debugRequest hands a DAP request to the interpreter's debugger; when it
// cannot answer (a malformed request, no interpreter), the reply is a DAP
// failure, so the frontend is never left waiting.
func (k *Kernel) debugRequest(ctx context.Context, r request) error {
	var req content.DebugRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "debug_reply", content.DebugFailure(req, "malformed debug_request: "+err.Error()))
	}
	if err := req.Check(); err != nil {
		return k.reply(r, "debug_reply", content.DebugFailure(req, err.Error()))
	}
	reply, err := ask(k, ctx, func(in Interpreter) (content.DebugReply, error) { return in.Debug(ctx, req) })
	if err != nil {
		return k.reply(r, "debug_reply", content.DebugFailure(req, "the interpreter did not answer: "+err.Error()))
	}
	return k.reply(r, "debug_reply", reply)
}

// DebugEvent publishes an event of the interpreter's debugger. As in
// ipykernel, debug_event has no parent: it belongs to the debug session,
// not to a request.
func (h kernelHost) DebugEvent(e content.DebugEvent) {
	h.k.publish(nil, "debug_event", e)
}
