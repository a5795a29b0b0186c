package kernel

import (
	"context"
	"maps"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

func (k *Kernel) kernelInfo(_ context.Context, r request) error {
	info := k.sup.kernelInfo()
	info.Status = content.StatusOK
	info.ProtocolVersion = protocol.Version
	info.Implementation = k.opts.Implementation
	info.ImplementationVersion = k.opts.Version
	if info.HelpLinks == nil {
		info.HelpLinks = []content.HelpLink{}
	}
	return k.reply(r, "kernel_info_reply", info)
}

// connect answers with the ports of the kernel's sockets, as ipykernel
// does; the request has no content to read.
func (k *Kernel) connect(_ context.Context, r request) error {
	reply := k.opts.Ports
	reply.Status = content.StatusOK
	return k.reply(r, "connect_reply", reply)
}

func (k *Kernel) isComplete(ctx context.Context, r request) error {
	var req content.IsCompleteRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "is_complete_reply", content.Unknown())
	}
	reply, err := ask(k, ctx, func(in Interpreter) (content.IsCompleteReply, error) { return in.IsComplete(ctx, req) })
	if err != nil {
		return k.reply(r, "is_complete_reply", content.Unknown())
	}
	return k.reply(r, "is_complete_reply", reply)
}

// complete and inspect are answered by the interpreter, which knows the
// user's namespace. When it cannot answer (it is gone), the reply is an
// empty success, as a frontend expects while typing.
func (k *Kernel) complete(ctx context.Context, r request) error {
	var req content.CompleteRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "complete_reply", content.BadRequest(err))
	}
	reply, err := ask(k, ctx, func(in Interpreter) (content.CompleteReply, error) { return in.Complete(ctx, req) })
	if err != nil {
		return k.reply(r, "complete_reply", content.NoCompletions(req.CursorPos))
	}
	return k.reply(r, "complete_reply", reply)
}

func (k *Kernel) inspect(ctx context.Context, r request) error {
	var req content.InspectRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "inspect_reply", content.BadRequest(err))
	}
	reply, err := ask(k, ctx, func(in Interpreter) (content.InspectReply, error) { return in.Inspect(ctx, req) })
	if err != nil {
		return k.reply(r, "inspect_reply", content.NotFound())
	}
	return k.reply(r, "inspect_reply", reply)
}

// ask runs one request in the interpreter, starting one if needed; an
// answer that failed its check counts as no answer (and is logged).
func ask[T any](k *Kernel, ctx context.Context, f func(Interpreter) (T, error)) (T, error) {
	var zero T
	in, err := k.sup.current(ctx)
	if err != nil {
		return zero, err
	}
	reply, err := f(in)
	if err != nil {
		k.log.Warn("the interpreter did not answer", "err", err)
		return zero, err
	}
	return reply, nil
}

func (k *Kernel) history(ctx context.Context, r request) error {
	type reply struct {
		Status  string          `json:"status"`
		History []history.Entry `json:"history"`
	}
	entries := []history.Entry{}
	if hist := k.historySession(); hist != nil {
		var q history.Request
		if err := r.msg.DecodeContent(&q); err != nil {
			bad := content.BadRequest(err)
			return k.reply(r, "history_reply", struct {
				content.ErrorReply
				History []history.Entry `json:"history"`
			}{bad, entries})
		}
		found, err := hist.Query(ctx, q)
		if err != nil {
			k.log.Warn("history query failed", "err", err)
		} else {
			entries = found
		}
	}
	return k.reply(r, "history_reply", reply{content.StatusOK, entries})
}

// commInfo lists the comms of both owners: the interpreter's code (asked,
// never mirrored) and Go code (comm.Manager).
func (k *Kernel) commInfo(ctx context.Context, r request) error {
	var req content.CommInfoRequest
	_ = r.msg.DecodeContent(&req)
	comms := k.comms.Info(req.TargetName)
	reply, err := ask(k, ctx, func(in Interpreter) (content.CommInfoReply, error) { return in.CommInfo(ctx, req) })
	if err == nil {
		maps.Copy(comms, reply.Comms)
	}
	return k.reply(r, "comm_info_reply", content.CommInfoReply{Status: content.StatusOK, Comms: comms})
}

// commFromFrontend routes a frontend's comm_open, comm_msg or comm_close:
// to Go code when it owns the comm or the target, else to the
// interpreter, where the comm package routes it to its target or comm.
// Output of the handlers is published under this message.
func (k *Kernel) commFromFrontend(ctx context.Context, r request) error {
	msg, err := comm.Decode(r.msg.Header.MsgType, r.msg.Content)
	if err != nil {
		return err
	}
	msg.Header, msg.Metadata, msg.Buffers = r.msg.Header, r.msg.Metadata, r.msg.Buffers
	if msg.Metadata == nil {
		msg.Metadata = map[string]any{}
	}
	if k.comms.Route(msg) {
		return nil
	}
	in, err := k.sup.current(ctx)
	if err != nil {
		return err
	}
	return in.Comm(ctx, msg, cellPublisher{k: k, parent: r.msg})
}

func (k *Kernel) shutdown(_ context.Context, r request) error {
	var req content.ShutdownRequest
	_ = r.msg.DecodeContent(&req)
	reply := content.ShutdownReply{Status: content.StatusOK, Restart: req.Restart}
	err := k.reply(r, "shutdown_reply", reply)
	k.publish(r.msg, "shutdown_reply", reply)
	if req.Restart && k.opts.RestartInPlace {
		// The launcher keeps this process: the session starts over here.
		// jupyter_client closes its control socket as soon as it sent the
		// request, so a reply that finds no peer is no failure.
		if err != nil {
			k.log.Debug("the shutdown_reply found no client", "err", err)
		}
		k.restartInPlace()
		return nil
	}
	// Otherwise the process ends either way: with restart, the client's
	// kernel manager starts a new kernel process, and with it a fresh
	// interpreter.
	k.quitOnce.Do(func() { close(k.quit) })
	return err
}

// interruptRequest interrupts the running cell (the supervisor escalates
// an interrupt the cell ignores).
func (k *Kernel) interruptRequest(_ context.Context, r request) error {
	status := content.StatusOK
	if err := k.sup.interrupt(); err != nil {
		k.log.Warn("interrupt failed", "err", err)
		status = content.StatusError
	}
	return k.reply(r, "interrupt_reply", content.StatusReply{Status: status})
}
