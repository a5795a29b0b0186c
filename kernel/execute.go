package kernel

import (
	"context"

	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/protocol/content"
)

// execute runs one cell: count it, publish execute_input, record it in the
// history, run it in the interpreter, reply, and open the abort window
// when it failed with stop_on_error.
func (k *Kernel) execute(ctx context.Context, r request) error {
	if k.exit.hasEnded() {
		return nil // queued behind the cell that ended the kernel: it is going away
	}
	var req content.ExecuteRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		reply := content.ExecuteReply{Status: content.StatusError, ExecutionCount: k.cells.count(), Error: content.NewError("BadRequest", err.Error())}
		_ = reply.Check()
		return k.reply(r, "execute_reply", reply)
	}
	store := req.Stores()
	gen := k.restarts.generation()
	hist := k.historySession()
	count, _ := k.cells.begin(r.msg, store)
	k.sup.beginCell()
	// A fresh output budget; background output dropped since the last
	// cell ended is reported under the cell it belonged to.
	k.reportDropped(k.output.reset())
	defer k.cells.end()

	if !req.Silent {
		k.publish(r.msg, "execute_input", content.ExecuteInput{Code: req.Code, ExecutionCount: count})
	}
	var output *string
	pub := cellPublisher{k: k, parent: r.msg, onResult: func(o display.Output) { output = o.PlainText() }}
	if store && hist != nil {
		// Recorded before it runs, so that a cell that hangs or crashes the
		// interpreter is in the history too; recorded again with its output.
		k.recordHistory(hist, count, req.Code, nil)
		defer func() { k.recordHistory(hist, count, req.Code, output) }()
	}
	// An interpreter that died since the last cell is replaced now, and
	// this cell says so before its own output.
	in, err := k.sup.current(ctx)
	if note := k.sup.takeLostNote(); note != "" {
		k.publish(r.msg, "stream", content.Stream{Name: "stderr", Text: note})
	}
	var reply content.ExecuteReply
	if err == nil {
		req.StoreHistory = &store
		reply, err = in.Execute(ctx, req, Cell{ExecutionCount: count, Parent: r.msg.Header}, pub)
		if err == nil {
			if cerr := reply.Check(); cerr != nil {
				k.log.Warn("malformed execute_reply from the interpreter", "err", cerr)
				reply = content.ExecuteReply{Status: content.StatusError, Error: content.NewError("KernelError", "the interpreter sent a malformed reply")}
			}
		}
	}
	if err != nil && ctx.Err() != nil {
		// The kernel is stopping (shutdown, SIGTERM, its client gone) and
		// closed the interpreter under the cell: nothing to restart, and
		// no one to reply to.
		k.log.Info("the kernel stopped while a cell ran")
		return nil
	}
	if err != nil && k.restarts.generation() != gen {
		// An in-place restart stopped the interpreter under the cell: it
		// ends with the old session, unanswered (restart.go).
		return errEndedByRestart
	}
	if err != nil && !k.sup.forced() && k.exit.endedByGuest(err, k.log) {
		return nil // the kernel ends without a reply, as ipykernel's process dies
	}
	if err != nil {
		e := k.sup.lost(ctx, err)
		k.publish(r.msg, "error", e)
		reply = content.ExecuteReply{Status: content.StatusError, Error: e}
	}
	reply.ExecutionCount = count
	_ = reply.Check() // fills payload and user_expressions
	k.reportDropped(k.output.report())
	if reply.Status == content.StatusError && req.StopsOnError() && !req.Silent {
		// The window covers the requests waiting now, before the reply
		// leaves: a request the client sends once it has seen the reply
		// must run (ipykernel opens it just after the reply, which is the
		// same but for a race a local client can win).
		k.queue.abortQueued()
	}
	return k.reply(r, "execute_reply", reply)
}

func (k *Kernel) recordHistory(hist *history.Session, line int, source string, output *string) {
	if err := hist.Record(line, source, output); err != nil {
		k.log.Warn("cannot record history", "err", err)
	}
}
