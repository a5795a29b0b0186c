// Package kernel is the Jupyter kernel's brain: it dispatches requests from
// the shell, control and stdin channels to handlers and turns what the
// interpreter produces into iopub messages.
//
// It sits between protocol (the wire) and an Interpreter (the language,
// interpreter.go): it never sees a socket, and never knows that the
// interpreter is WebAssembly. Its concerns live apart, each with its own
// lock: the shell queue and its abort window (queue.go), the interpreter's
// supervisor with interrupt escalation (supervisor.go), the stdin broker
// (stdin.go), the state of the running cell (cell.go), publishing within a
// cell's output budget (publish.go, output.go), and the handlers
// (handlers.go, execute.go).
package kernel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// Transport is the kernel's view of the wire: an Outbox (outbox.go) over
// zmtp.Server implements it.
type Transport interface {
	Send(ch protocol.Channel, m *protocol.Message) error
	Publish(m *protocol.Message)
}

// Options configure a Kernel.
type Options struct {
	Implementation string // "wasipy"
	Version        string // the kernel's own version
	// InterruptGrace is how long a running cell may ignore an interrupt
	// before a second interrupt replaces its interpreter.
	InterruptGrace time.Duration
	// History records executed cells and answers history_request; nil
	// keeps no history.
	History *history.Session
	// MaxOutput caps the bytes of output (stream text, display data) one
	// cell publishes; past it output is dropped and the cell is told once.
	// 0 means no cap.
	MaxOutput int64
	// EndOnExit ends the kernel when cell code ends the interpreter's
	// process (os._exit, os.kill of itself, os.abort), as ipykernel's
	// process ends (exit.go); otherwise a fresh interpreter takes over.
	EndOnExit bool
	// RestartInPlace makes shutdown_request{restart: true} start the
	// session over in this process (restart.go) instead of ending it. Only
	// a launcher that knows to keep the process may ask for it (wasipy's
	// provisioner: kernelcmd's --restart-in-place).
	RestartInPlace bool
	// Spare, when set, gives the supervisor each interpreter it starts,
	// and may have the next one ready before it is asked (a restart then
	// takes it); Starter is not called.
	Spare Spare
	// Ports answers connect_request; its Status is filled in. A zero
	// value answers with no ports (a kernel not behind sockets).
	Ports content.ConnectReply
	Log   *slog.Logger
}

// Kernel serves one kernel session.
type Kernel struct {
	opts    Options
	log     *slog.Logger
	tr      Transport
	session string

	queue  shellQueue    // shell requests, one at a time (queue.go)
	sup    *supervisor   // the interpreter and its restarts (supervisor.go)
	stdin  stdinBroker   // input_request / input_reply (stdin.go)
	cells  cellState     // the running cell, the count, recent parents (cell.go)
	output outputMeter   // the running cell's output budget (output.go)
	comms  *comm.Manager // comms held by Go code
	exit   exitState     // cell code ending the kernel (exit.go)
	debug  debugQueue    // debug_requests, in order (debug.go)
	// restarts orders in-place restarts with the shell queue (restart.go).
	restarts restartState
	hist     atomic.Pointer[history.Session] // the history session; a restart starts a new one

	quit     chan struct{} // closed on shutdown_request
	quitOnce sync.Once
	dispatch map[string]handlerFunc
}

type request struct {
	ch  protocol.Channel
	msg *protocol.Message
	seq uint64 // shell requests: the queue's number for it
}

// New makes a kernel and starts its first interpreter.
func New(ctx context.Context, tr Transport, start Starter, opts Options) (*Kernel, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.InterruptGrace == 0 {
		opts.InterruptGrace = 2 * time.Second
	}
	k := &Kernel{
		opts:     opts,
		log:      opts.Log,
		tr:       tr,
		session:  uuid.NewString(),
		queue:    newShellQueue(),
		quit:     make(chan struct{}),
		exit:     newExitState(opts.EndOnExit),
		debug:    newDebugQueue(),
		restarts: newRestartState(),
	}
	if opts.History != nil {
		k.hist.Store(opts.History)
	}
	k.comms = comm.NewManager(commSender{k})
	k.stdin = stdinBroker{cells: &k.cells, send: k.sendInputRequest, quit: k.quit}
	k.dispatch = k.handlers()
	k.output.limit = opts.MaxOutput
	k.output.reset()
	if opts.Spare != nil {
		start = opts.Spare.Take
	}
	k.sup = newSupervisor(start, kernelHost{k}, &k.cells, &k.exit, opts.InterruptGrace, k.log)
	if err := k.sup.restart(ctx); err != nil {
		return nil, err
	}
	go k.serveDebug()
	return k, nil
}

// Close ends the interpreter. Call it before the process exits: a worker
// spinning in user code would not notice its parent is gone.
func (k *Kernel) Close() {
	k.sup.close()
	if k.opts.Spare != nil {
		k.opts.Spare.Close()
	}
}

// historySession is the session cells are recorded in, or nil.
func (k *Kernel) historySession() *history.Session { return k.hist.Load() }

// Done is closed when a client asked the kernel to shut down.
func (k *Kernel) Done() <-chan struct{} { return k.quit }

// Comms is the Go side of comms: open comms with the frontend from Go,
// and register targets the frontend can open comms to.
func (k *Kernel) Comms() *comm.Manager { return k.comms }

// Display publishes display data into the cell that runs at the time of
// each Display call (or, between cells, the last one): a Go module that
// Python calls can keep it and show things in whichever cell called it.
func (k *Kernel) Display() display.Publisher { return liveCell{k} }

// Run handles shell requests one at a time until ctx ends.
func (k *Kernel) Run(ctx context.Context) {
	k.publishStatus(nil, "starting")
	for {
		select {
		case <-ctx.Done():
			k.sup.close()
			return
		case <-k.restarts.wake:
			k.finishRestart(ctx)
		case r := <-k.queue.requests:
			k.finishRestart(ctx)
			if k.restarts.dropped(r) {
				k.log.Info("dropping a request the kernel had received before it restarted, as ipykernel's restart does", "msg_type", r.msg.Header.MsgType)
				continue
			}
			if k.queue.inAbortWindow() && r.msg.Header.MsgType == "execute_request" {
				k.abort(r)
				continue
			}
			k.serve(ctx, r)
		}
	}
}

// HandleMessage implements zmtp.Handler. Shell requests are queued and
// run in order by Run; control and stdin messages are handled at once, so
// control answers while a cell runs (see controlNow).
func (k *Kernel) HandleMessage(ch protocol.Channel, m *protocol.Message) {
	switch ch {
	case protocol.Shell:
		k.queue.push(request{ch: ch, msg: m}, k.quit)
	case protocol.Control:
		if controlNow[m.Header.MsgType] {
			k.serve(context.Background(), request{ch: ch, msg: m})
			return
		}
		if m.Header.MsgType == "debug_request" {
			k.queueDebug(request{ch: ch, msg: m})
			return
		}
		// Anything else needs the interpreter, which may be busy with a
		// cell for a long time: the control channel must not wait for
		// it, or an interrupt behind it would too.
		go k.serve(context.Background(), request{ch: ch, msg: m})
	case protocol.Stdin:
		k.stdin.answer(m, k.log)
	}
}

// controlNow are the requests the control channel serves on its own
// reader, in order: none of them waits for the interpreter.
var controlNow = map[string]bool{
	"kernel_info_request": true,
	"shutdown_request":    true,
	"interrupt_request":   true,
}

type handlerFunc func(ctx context.Context, r request) error

func (k *Kernel) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"kernel_info_request": k.kernelInfo,
		"execute_request":     k.execute,
		"is_complete_request": k.isComplete,
		"complete_request":    k.complete,
		"inspect_request":     k.inspect,
		"history_request":     k.history,
		"comm_info_request":   k.commInfo,
		"connect_request":     k.connect,
		"shutdown_request":    k.shutdown,
		"interrupt_request":   k.interruptRequest,
		"debug_request":       k.debugRequest,
		comm.Open:             k.commFromFrontend,
		comm.Msg:              k.commFromFrontend,
		comm.Close:            k.commFromFrontend,
	}
}

// serve runs one request between busy and idle status messages.
func (k *Kernel) serve(ctx context.Context, r request) {
	h, ok := k.dispatch[r.msg.Header.MsgType]
	if !ok {
		k.log.Warn("unknown message type", "channel", r.ch.String(), "msg_type", r.msg.Header.MsgType)
		return
	}
	k.publishStatus(r.msg, "busy")
	if err := h(ctx, r); err != nil {
		if errors.Is(err, errEndedByRestart) {
			return // ended with the old session: no idle, as no reply
		}
		k.log.Error("handler failed", "msg_type", r.msg.Header.MsgType, "err", err)
	}
	k.publishStatus(r.msg, "idle")
}

// abort answers an execute_request queued behind a failed cell with
// status "aborted", between its own busy and idle, as ipykernel does.
func (k *Kernel) abort(r request) {
	k.publishStatus(r.msg, "busy")
	if err := k.reply(r, "execute_reply", content.Aborted(k.cells.count())); err != nil {
		k.log.Error("cannot send an aborted reply", "err", err)
	}
	k.publishStatus(r.msg, "idle")
}

func (k *Kernel) reply(r request, msgType string, c any) error {
	m, err := protocol.NewMessage(r.msg, k.session, msgType, c)
	if err != nil {
		return err
	}
	return k.tr.Send(r.ch, m)
}

// flusher is a Transport that can wait until what it published is on the
// wire (the Outbox).
type flusher interface {
	Flush(ctx context.Context) error
}

// inputFlushWait bounds how long an input_request waits for the output
// published before it.
const inputFlushWait = time.Second

func (k *Kernel) sendInputRequest(parent *protocol.Message, req content.InputRequest) error {
	m, err := protocol.NewMessage(parent, k.session, "input_request", req)
	if err != nil {
		return err
	}
	// What the cell printed before asking (pdb's listing before its
	// prompt) goes out first, as ipykernel flushes stdout before it asks:
	// a console shows the iopub output it has received when the request
	// comes, and prints later output only after the answer.
	if f, ok := k.tr.(flusher); ok {
		ctx, cancel := context.WithTimeout(context.Background(), inputFlushWait)
		if err := f.Flush(ctx); err != nil {
			k.log.Debug("output before an input_request was not flushed", "err", err)
		}
		cancel()
	}
	return k.tr.Send(protocol.Stdin, m)
}

func (k *Kernel) publish(parent *protocol.Message, msgType string, c any) {
	k.publishFull(parent, msgType, c, nil, nil)
}

func (k *Kernel) publishFull(parent *protocol.Message, msgType string, c any, metadata map[string]any, buffers [][]byte) {
	m, err := protocol.NewMessage(parent, k.session, msgType, c)
	if err != nil {
		k.log.Error("cannot build iopub message", "msg_type", msgType, "err", err)
		return
	}
	m.Identities = nil // iopub routes by topic, not by the requester's identity
	m.Buffers = buffers
	if len(metadata) > 0 {
		m.Metadata = metadata
	}
	k.tr.Publish(m)
}

func (k *Kernel) publishStatus(parent *protocol.Message, state string) {
	k.publish(parent, "status", content.Status{ExecutionState: state})
}
