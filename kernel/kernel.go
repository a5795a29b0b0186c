// Package kernel is the Jupyter kernel's brain: it dispatches requests from
// the shell, control and stdin channels to handlers, keeps the session state
// (execution count, the queue of shell requests, the current interpreter),
// and turns what the interpreter produces into iopub messages.
//
// It sits between protocol (the wire) and an Interpreter (the language): it
// never sees a socket, and never knows that the interpreter is WebAssembly.
package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/protocol"
)

// Interpreter runs code. interp.Process implements it.
type Interpreter interface {
	Info() interp.LanguageInfo
	// Call runs one request of the interpreter's protocol ("execute",
	// "is_complete", ...) and hands each event it produces to events.
	Call(ctx context.Context, typ string, content any, events func(interp.Event)) (json.RawMessage, error)
	// SetBackground receives events produced while no call runs, and
	// events that name another request (Event.ParentID).
	SetBackground(func(interp.Event))
	// SetHostHandler answers the interpreter's requests of the host.
	SetHostHandler(interp.HostHandler)
	Interrupt() error
	Close() error
	Done() <-chan struct{}
}

// Starter starts a fresh interpreter (at start-up and after a restart).
type Starter func(ctx context.Context) (Interpreter, error)

// Transport is the kernel's view of the wire: an Outbox over zmtp.Server implements it.
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
	Log       *slog.Logger
}

// Kernel serves one kernel session.
type Kernel struct {
	opts    Options
	log     *slog.Logger
	tr      Transport
	start   Starter
	session string
	comms   comm.Registry
	output  outputMeter // the running cell's output budget (output.go)

	shell    chan request
	quit     chan struct{} // closed on shutdown_request
	ended    chan struct{} // closed when cell code ended the kernel (exit.go)
	endOnce  sync.Once
	exitCode int
	dispatch map[string]handlerFunc
	once     sync.Once

	lifeMu sync.Mutex // held while an interpreter is started or replaced

	mu        sync.Mutex
	interp    Interpreter
	lostNote  string // says the last interpreter died while idle; told on the next execute
	info      interp.LanguageInfo
	count     int
	running   *protocol.Message // the execute_request being run, if any
	interrupt time.Time         // when the running cell was first interrupted
	lastExec  *protocol.Message // parent for background output
	recent    recentParents     // execute_requests by msg_id, for output of their tasks
	input     chan string       // the pending input_request's answer, while one waits
	execDone  chan struct{}     // closed when the running cell ends
}

type request struct {
	ch  protocol.Channel
	msg *protocol.Message
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
		opts:    opts,
		log:     opts.Log,
		tr:      tr,
		start:   start,
		session: uuid.NewString(),
		shell:   make(chan request, 1024),
		quit:    make(chan struct{}),
		ended:   make(chan struct{}),
	}
	k.dispatch = k.handlers()
	k.output.limit = opts.MaxOutput
	k.output.reset()
	if err := k.restartInterpreter(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Close ends the interpreter. Call it before the process exits: a worker
// spinning in user code would not notice its parent is gone.
func (k *Kernel) Close() { k.closeInterpreter() }

// Done is closed when a client asked the kernel to shut down.
func (k *Kernel) Done() <-chan struct{} { return k.quit }

// Run handles shell requests one at a time until ctx ends.
func (k *Kernel) Run(ctx context.Context) {
	k.publishStatus(nil, "starting")
	for {
		select {
		case <-ctx.Done():
			k.closeInterpreter()
			return
		case r := <-k.shell:
			k.serve(ctx, r)
		}
	}
}

// HandleMessage implements zmtp.Handler. Shell requests are queued and
// run in order by Run; control and stdin messages are handled at once, so
// control answers while a cell runs.
func (k *Kernel) HandleMessage(ch protocol.Channel, m *protocol.Message) {
	switch ch {
	case protocol.Shell:
		select {
		case k.shell <- request{ch, m}:
		case <-k.quit:
		}
	case protocol.Control:
		k.serve(context.Background(), request{ch, m})
	case protocol.Stdin:
		k.stdinMessage(m)
	}
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
		"shutdown_request":    k.shutdown,
		"interrupt_request":   k.interruptRequest,
		"comm_open":           k.commFromFrontend,
		"comm_msg":            k.commFromFrontend,
		"comm_close":          k.commFromFrontend,
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
		k.log.Error("handler failed", "msg_type", r.msg.Header.MsgType, "err", err)
	}
	k.publishStatus(r.msg, "idle")
}

func (k *Kernel) reply(r request, msgType string, content any) error {
	m, err := protocol.NewMessage(r.msg, k.session, msgType, content)
	if err != nil {
		return err
	}
	return k.tr.Send(r.ch, m)
}

func (k *Kernel) publish(parent *protocol.Message, msgType string, content any) {
	k.publishFull(parent, msgType, content, nil, nil)
}

func (k *Kernel) publishFull(parent *protocol.Message, msgType string, content any, metadata json.RawMessage, buffers [][]byte) {
	m, err := protocol.NewMessage(parent, k.session, msgType, content)
	if err != nil {
		k.log.Error("cannot build iopub message", "msg_type", msgType, "err", err)
		return
	}
	m.Identities = nil // iopub routes by topic, not by the requester's identity
	m.Buffers = buffers
	if len(metadata) > 0 {
		var md map[string]any
		if json.Unmarshal(metadata, &md) == nil {
			m.Metadata = md
		}
	}
	k.tr.Publish(m)
}

func (k *Kernel) publishStatus(parent *protocol.Message, state string) {
	k.publish(parent, "status", map[string]string{"execution_state": state})
}

// ---- interpreter lifecycle --------------------------------------------

// freshInterpreterNote is what the user is told whenever an interpreter
// had to be replaced: ipykernel's frontends say "The kernel appears to have
// died. It will restart automatically."; here the kernel lives on, so it
// says so itself, plainly.
const freshInterpreterNote = "The interpreter was restarted: a fresh one runs your next cells, and the variables, imports and definitions of earlier cells are gone (run the cells you need again). The kernel, its execution count and history are kept."

func (k *Kernel) restartInterpreter(ctx context.Context) error {
	k.lifeMu.Lock()
	defer k.lifeMu.Unlock()
	return k.startInterpreterLocked(ctx)
}

// startInterpreterLocked replaces the interpreter; the caller holds lifeMu.
func (k *Kernel) startInterpreterLocked(ctx context.Context) error {
	k.closeInterpreter()
	in, err := k.start(ctx)
	if err != nil {
		return err
	}
	in.SetBackground(func(e interp.Event) {
		k.mu.Lock()
		parent := k.lastExec
		if p := k.recent.get(e.ParentID); p != nil {
			parent = p
		}
		k.mu.Unlock()
		k.publishEvent(parent, e)
	})
	in.SetHostHandler(k.hostRequest)
	k.comms.Reset()
	k.mu.Lock()
	k.interp = in
	k.info = in.Info()
	k.mu.Unlock()
	go k.watch(in)
	return nil
}

// watch replaces the interpreter if it dies while no cell runs (killed,
// a trap in a background task, os._exit from an asyncio callback), so
// the next cell finds a fresh one at once; that cell tells the user. A
// death during a cell is reported by the cell (interpreterLost); an
// interpreter closed on purpose is no longer k.interp.
func (k *Kernel) watch(in Interpreter) {
	<-in.Done()
	k.mu.Lock()
	idle := k.interp == in && k.running == nil
	k.mu.Unlock()
	if idle && (k.endedByGuest(in, nil) || k.hasEnded()) {
		return
	}
	if idle {
		k.replaceDead(context.Background(), in)
	}
}

// replaceDead starts a fresh interpreter in place of dead, unless another
// goroutine already did, and keeps a note for the next cell.
func (k *Kernel) replaceDead(ctx context.Context, dead Interpreter) {
	k.lifeMu.Lock()
	defer k.lifeMu.Unlock()
	k.mu.Lock()
	current := k.interp == dead
	k.mu.Unlock()
	if !current {
		return
	}
	reason := exitReason(dead)
	k.log.Warn("the interpreter died while idle; starting a fresh one", "reason", reason)
	note := fmt.Sprintf("The interpreter stopped after the previous cell (%s). %s\n", reason, freshInterpreterNote)
	if err := k.startInterpreterLocked(ctx); err != nil {
		k.log.Error("cannot restart the interpreter", "err", err)
		note = fmt.Sprintf("The interpreter stopped after the previous cell (%s), and a new one could not be started (%v). The variables of earlier cells are gone.\n", reason, err)
	}
	k.mu.Lock()
	k.lostNote = note
	k.mu.Unlock()
}

// exitReason says how an interpreter ended, if it can tell.
func exitReason(in Interpreter) string {
	if e, ok := in.(interface{ Err() error }); ok && e.Err() != nil {
		return e.Err().Error()
	}
	return "it exited"
}

func (k *Kernel) closeInterpreter() {
	k.mu.Lock()
	in := k.interp
	k.interp = nil
	k.mu.Unlock()
	if in != nil {
		in.Close()
	}
}

// interpreter is the running interpreter. One that died while idle is
// replaced first (watch may not have got to it yet). When there is none
// (a restart failed), it tries once more to start one.
func (k *Kernel) interpreter(ctx context.Context) (Interpreter, error) {
	k.mu.Lock()
	in := k.interp
	k.mu.Unlock()
	if in != nil {
		select {
		case <-in.Done():
			k.replaceDead(ctx, in)
			k.mu.Lock()
			in = k.interp
			k.mu.Unlock()
		default:
		}
	}
	if in != nil {
		return in, nil
	}
	if err := k.restartInterpreter(ctx); err != nil {
		return nil, fmt.Errorf("the interpreter could not be started: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.interp, nil
}

// call runs a request in the interpreter, starting one if needed.
func (k *Kernel) call(ctx context.Context, typ string, content any, events func(interp.Event)) (json.RawMessage, error) {
	in, err := k.interpreter(ctx)
	if err != nil {
		return nil, err
	}
	return in.Call(ctx, typ, content, events)
}

// publishEvent turns an interpreter event into an iopub message.
func (k *Kernel) publishEvent(parent *protocol.Message, e interp.Event) {
	switch {
	case e.Type == "stream":
		k.publishStream(parent, e.Content)
	case e.Type == "error":
		if k.output.admitError(parent, eventSize(e)) {
			k.publish(parent, e.Type, e.Content)
		}
	case e.Type == "comm_open" || e.Type == "comm_msg" || e.Type == "comm_close":
		var c struct {
			CommID     string `json:"comm_id"`
			TargetName string `json:"target_name"`
		}
		if err := json.Unmarshal(e.Content, &c); err != nil || c.CommID == "" {
			k.log.Warn("dropping malformed comm message from the interpreter", "type", e.Type)
			return
		}
		switch e.Type {
		case "comm_open":
			k.comms.Open(comm.Comm{ID: c.CommID, TargetName: c.TargetName})
		case "comm_close":
			k.comms.Close(c.CommID)
		}
		k.publishFull(parent, e.Type, e.Content, e.Metadata, e.Buffers)
	case display.Kinds[e.Type]:
		content, err := display.Shape(e.Type, e.Content)
		if err != nil {
			k.log.Warn("dropping malformed display message from the interpreter", "err", err)
			return
		}
		if e.Type != "clear_output" && k.output.admit(parent, eventSize(e), false) == 0 {
			return
		}
		k.publish(parent, e.Type, content)
	default:
		k.log.Warn("unknown interpreter event", "type", e.Type)
	}
}

// ---- handlers ---------------------------------------------------------

type helpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

func (k *Kernel) kernelInfo(_ context.Context, r request) error {
	k.mu.Lock()
	info := k.info
	k.mu.Unlock()
	return k.reply(r, "kernel_info_reply", map[string]any{
		"status":                 "ok",
		"protocol_version":       protocol.Version,
		"implementation":         k.opts.Implementation,
		"implementation_version": k.opts.Version,
		"language_info":          info,
		"banner": fmt.Sprintf("Python %s on WebAssembly (WASI), run by %s %s in a sandbox",
			info.Version, k.opts.Implementation, k.opts.Version),
		"help_links": []helpLink{
			{"Python Reference", "https://docs.python.org/" + docsVersion(info.Version) + "/"},
			{"Python Library Reference", "https://docs.python.org/" + docsVersion(info.Version) + "/library/"},
		},
		"debugger": false,
	})
}

// docsVersion is the "3.NN" of docs.python.org for the interpreter's
// version ("3.13.5" -> "3.13"), so help links match the interpreter that
// runs (3.12 from npm or the 3.13 build); "3" when the version is not of
// the form major.minor[...] (docs.python.org/3/ is the latest release).
func docsVersion(v string) string {
	major, rest, ok := strings.Cut(v, ".")
	if !ok || major == "" {
		return "3"
	}
	minor, _, _ := strings.Cut(rest, ".")
	if minor == "" {
		return "3"
	}
	for _, c := range major + minor {
		if c < '0' || c > '9' {
			return "3"
		}
	}
	return major + "." + minor
}

type executeRequest struct {
	Code            string            `json:"code"`
	Silent          bool              `json:"silent"`
	StoreHistory    *bool             `json:"store_history"`
	UserExpressions map[string]string `json:"user_expressions"`
	AllowStdin      *bool             `json:"allow_stdin"`
	StopOnError     *bool             `json:"stop_on_error"`
}

func orDefault(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func (k *Kernel) execute(ctx context.Context, r request) error {
	if k.hasEnded() {
		return nil // queued behind the cell that ended the kernel: it is going away
	}
	var req executeRequest
	if err := r.msg.DecodeContent(&req); err != nil {
		k.mu.Lock()
		count := k.count
		k.mu.Unlock()
		return k.reply(r, "execute_reply", map[string]any{
			"status": "error", "ename": "BadRequest", "evalue": err.Error(), "traceback": []string{}, "execution_count": count,
		})
	}
	store := orDefault(req.StoreHistory, !req.Silent) && !req.Silent
	k.mu.Lock()
	if store {
		k.count++
	}
	count := k.count
	k.running, k.interrupt, k.lastExec = r.msg, time.Time{}, r.msg
	k.recent.add(r.msg)
	execDone := make(chan struct{})
	k.execDone = execDone
	k.mu.Unlock()
	// A fresh output budget; background output dropped since the last
	// cell ended is reported under the cell it belonged to.
	k.reportDropped(k.output.reset())
	defer func() {
		k.mu.Lock()
		k.running = nil
		close(execDone)
		k.mu.Unlock()
	}()

	if !req.Silent {
		k.publish(r.msg, "execute_input", map[string]any{"code": req.Code, "execution_count": count})
	}
	if req.UserExpressions == nil {
		req.UserExpressions = map[string]string{}
	}
	var output *string
	events := func(e interp.Event) {
		if e.Type == "execute_result" && e.ParentID == "" {
			output = history.ResultText(e.Content)
		}
		k.publishEvent(r.msg, e)
	}
	if store && k.opts.History != nil {
		// Recorded before it runs, so that a cell that hangs or crashes the
		// interpreter is in the history too; recorded again with its output.
		k.recordHistory(count, req.Code, nil)
		defer func() { k.recordHistory(count, req.Code, output) }()
	}
	// An interpreter that died since the last cell is replaced now, and
	// this cell says so before its own output.
	_, _ = k.interpreter(ctx)
	k.mu.Lock()
	note := k.lostNote
	k.lostNote = ""
	k.mu.Unlock()
	if note != "" {
		k.publish(r.msg, "stream", map[string]string{"name": "stderr", "text": note})
	}
	raw, err := k.call(ctx, "execute", map[string]any{
		"code":             req.Code,
		"silent":           req.Silent,
		"store_history":    store,
		"user_expressions": req.UserExpressions,
		"execution_count":  count,
		"allow_stdin":      orDefault(req.AllowStdin, true),
		"parent_id":        r.msg.Header.MsgID,
		"parent_header":    r.msg.Header,
	}, events)

	var reply map[string]any
	if err != nil && ctx.Err() != nil {
		// The kernel is stopping (shutdown, SIGTERM, its client gone) and
		// closed the interpreter under the cell: nothing to restart, and
		// no one to reply to.
		k.log.Info("the kernel stopped while a cell ran")
		return nil
	}
	if err != nil {
		k.mu.Lock()
		forced := !k.interrupt.IsZero()
		k.mu.Unlock()
		if !forced && k.endedByGuest(nil, err) {
			return nil // the kernel ends without a reply, as ipykernel's process dies
		}
	}
	if err != nil {
		reply = k.interpreterLost(ctx, r.msg, err)
	} else if json.Unmarshal(raw, &reply) != nil || reply == nil {
		reply = map[string]any{"status": "error", "ename": "KernelError",
			"evalue": "the interpreter sent a malformed reply", "traceback": []string{}}
	}
	reply["execution_count"] = count
	if _, ok := reply["payload"].([]any); !ok {
		reply["payload"] = []any{}
	}
	if _, ok := reply["user_expressions"]; !ok {
		reply["user_expressions"] = map[string]any{}
	}
	k.reportDropped(k.output.report())
	if reply["status"] == "error" && orDefault(req.StopOnError, true) {
		k.abortQueued()
	}
	return k.reply(r, "execute_reply", reply)
}

// interpreterLost reports a cell whose interpreter ended under it (crash,
// os._exit, or a restart forced by a second interrupt), starts a fresh
// interpreter, and returns the error reply.
func (k *Kernel) interpreterLost(ctx context.Context, parent *protocol.Message, cause error) map[string]any {
	k.mu.Lock()
	forced := !k.interrupt.IsZero()
	k.mu.Unlock()
	ename, evalue := "InterpreterExited", "the interpreter died while this cell ran: "+cause.Error()
	if forced {
		ename, evalue = "KeyboardInterrupt", "the cell did not stop when interrupted, so its interpreter was stopped"
	}
	note := freshInterpreterNote
	k.mu.Lock()
	k.lostNote = "" // this error tells it; the next cell need not
	k.mu.Unlock()
	if err := k.restartInterpreter(ctx); err != nil {
		k.log.Error("cannot restart the interpreter", "err", err)
		note = fmt.Sprintf("A new interpreter could not be started (%v); the next cell tries again.", err)
	}
	content := map[string]any{"ename": ename, "evalue": evalue, "traceback": []string{fmt.Sprintf("%s: %s\n%s", ename, evalue, note)}}
	k.publish(parent, "error", content)
	return map[string]any{"status": "error", "ename": ename, "evalue": evalue, "traceback": content["traceback"]}
}

// abortQueued answers every execute_request already waiting in the shell
// queue with status "aborted", as ipykernel does after an error when
// stop_on_error is set. Other queued requests are still served, in order.
func (k *Kernel) abortQueued() {
	var keep []request
	for {
		select {
		case r := <-k.shell:
			if r.msg.Header.MsgType == "execute_request" {
				k.mu.Lock()
				count := k.count
				k.mu.Unlock()
				k.publishStatus(r.msg, "busy")
				_ = k.reply(r, "execute_reply", map[string]any{"status": "aborted", "execution_count": count})
				k.publishStatus(r.msg, "idle")
			} else {
				keep = append(keep, r)
			}
		default:
			for _, r := range keep {
				k.serve(context.Background(), r)
			}
			return
		}
	}
}

func (k *Kernel) isComplete(ctx context.Context, r request) error {
	var req struct {
		Code string `json:"code"`
	}
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "is_complete_reply", map[string]any{"status": "unknown"})
	}
	raw, err := k.call(ctx, "is_complete", map[string]string{"code": req.Code}, nil)
	if err != nil {
		return k.reply(r, "is_complete_reply", map[string]any{"status": "unknown"})
	}
	return k.reply(r, "is_complete_reply", raw)
}

// complete and inspect are answered by the interpreter, which knows the
// user's namespace. When it cannot answer (it is gone), the reply is an
// empty success, as a frontend expects while typing.
func (k *Kernel) complete(ctx context.Context, r request) error {
	var req struct {
		Code      string `json:"code"`
		CursorPos int    `json:"cursor_pos"`
	}
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "complete_reply", map[string]any{"status": "error", "ename": "BadRequest", "evalue": err.Error(), "traceback": []string{}})
	}
	raw, err := k.call(ctx, "complete", req, nil)
	if err != nil {
		return k.reply(r, "complete_reply", map[string]any{
			"status": "ok", "matches": []string{}, "cursor_start": req.CursorPos, "cursor_end": req.CursorPos, "metadata": map[string]any{},
		})
	}
	return k.reply(r, "complete_reply", raw)
}

func (k *Kernel) inspect(ctx context.Context, r request) error {
	var req struct {
		Code        string `json:"code"`
		CursorPos   int    `json:"cursor_pos"`
		DetailLevel int    `json:"detail_level"`
	}
	if err := r.msg.DecodeContent(&req); err != nil {
		return k.reply(r, "inspect_reply", map[string]any{"status": "error", "ename": "BadRequest", "evalue": err.Error(), "traceback": []string{}})
	}
	raw, err := k.call(ctx, "inspect", req, nil)
	if err != nil {
		return k.reply(r, "inspect_reply", map[string]any{"status": "ok", "found": false, "data": map[string]any{}, "metadata": map[string]any{}})
	}
	return k.reply(r, "inspect_reply", raw)
}

func (k *Kernel) recordHistory(line int, source string, output *string) {
	if err := k.opts.History.Record(line, source, output); err != nil {
		k.log.Warn("cannot record history", "err", err)
	}
}

func (k *Kernel) history(ctx context.Context, r request) error {
	entries := []history.Entry{}
	if k.opts.History != nil {
		var q history.Request
		if err := r.msg.DecodeContent(&q); err != nil {
			return k.reply(r, "history_reply", map[string]any{"status": "error", "ename": "BadRequest", "evalue": err.Error(), "traceback": []string{}, "history": entries})
		}
		found, err := k.opts.History.Query(ctx, q)
		if err != nil {
			k.log.Warn("history query failed", "err", err)
		} else {
			entries = found
		}
	}
	return k.reply(r, "history_reply", map[string]any{"status": "ok", "history": entries})
}

func (k *Kernel) commInfo(_ context.Context, r request) error {
	var req struct {
		TargetName string `json:"target_name"`
	}
	_ = r.msg.DecodeContent(&req)
	return k.reply(r, "comm_info_reply", map[string]any{"status": "ok", "comms": k.comms.Info(req.TargetName)})
}

// commFromFrontend forwards a frontend's comm_open, comm_msg or
// comm_close to the interpreter, where the comm package routes it to its
// target or comm. Output of the handlers is published under this message.
func (k *Kernel) commFromFrontend(ctx context.Context, r request) error {
	var c struct {
		CommID     string `json:"comm_id"`
		TargetName string `json:"target_name"`
	}
	if err := r.msg.DecodeContent(&c); err != nil || c.CommID == "" {
		return fmt.Errorf("%s without comm_id", r.msg.Header.MsgType)
	}
	switch r.msg.Header.MsgType {
	case "comm_open":
		k.comms.Open(comm.Comm{ID: c.CommID, TargetName: c.TargetName})
	case "comm_close":
		k.comms.Close(c.CommID)
	}
	metadata := r.msg.Metadata
	if metadata == nil {
		metadata = map[string]any{}
	}
	raw, err := k.call(ctx, r.msg.Header.MsgType, &interp.Payload{
		Content: map[string]any{
			"content":  r.msg.Content,
			"metadata": metadata,
			"header":   r.msg.Header,
		},
		Buffers: r.msg.Buffers,
	}, func(e interp.Event) { k.publishEvent(r.msg, e) })
	if err != nil {
		return err
	}
	var reply struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(raw, &reply) == nil && reply.Status != "ok" && r.msg.Header.MsgType == "comm_open" {
		// No such target: the comm package closed it on the guest side.
		k.comms.Close(c.CommID)
	}
	return nil
}

func (k *Kernel) shutdown(_ context.Context, r request) error {
	var req struct {
		Restart bool `json:"restart"`
	}
	_ = r.msg.DecodeContent(&req)
	content := map[string]any{"status": "ok", "restart": req.Restart}
	err := k.reply(r, "shutdown_reply", content)
	k.publish(r.msg, "shutdown_reply", content)
	// The process ends either way: with restart, the client's kernel manager
	// starts a new kernel process, and with it a fresh interpreter.
	k.once.Do(func() { close(k.quit) })
	return err
}

// interruptRequest interrupts the running cell. When a cell is still
// running InterruptGrace after a first interrupt (stuck where Python cannot
// see the interrupt), a second interrupt replaces its interpreter.
func (k *Kernel) interruptRequest(_ context.Context, r request) error {
	k.mu.Lock()
	in := k.interp
	running := k.running != nil
	first := k.interrupt
	if running && first.IsZero() {
		k.interrupt = time.Now()
	}
	k.mu.Unlock()
	var err error
	switch {
	case in == nil:
	case running && !first.IsZero() && time.Since(first) >= k.opts.InterruptGrace:
		k.log.Warn("the cell ignored an interrupt; replacing the interpreter")
		err = in.Close() // the running execute sees the exit and restarts
	default:
		err = in.Interrupt()
	}
	status := "ok"
	if err != nil {
		status = "error"
	}
	return k.reply(r, "interrupt_reply", map[string]any{"status": status})
}

// recentParents remembers the last execute_requests, so that output of an
// asyncio task is published under the cell that started the task.
type recentParents struct {
	order []string
	byID  map[string]*protocol.Message
}

const recentParentsKept = 256

func (r *recentParents) add(m *protocol.Message) {
	if r.byID == nil {
		r.byID = map[string]*protocol.Message{}
	}
	r.byID[m.Header.MsgID] = m
	r.order = append(r.order, m.Header.MsgID)
	if len(r.order) > recentParentsKept {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recentParents) get(id string) *protocol.Message {
	if id == "" {
		return nil
	}
	return r.byID[id]
}

// hostRequest answers what the interpreter asks of the kernel.
func (k *Kernel) hostRequest(ctx context.Context, method string, content json.RawMessage, _ [][]byte) (any, [][]byte, error) {
	switch method {
	case "input":
		var req struct {
			Prompt   string `json:"prompt"`
			Password bool   `json:"password"`
		}
		if err := json.Unmarshal(content, &req); err != nil {
			return nil, nil, err
		}
		answer, err := k.askInput(ctx, req.Prompt, req.Password)
		return answer, nil, err
	}
	return nil, nil, fmt.Errorf("unknown host request %q", method)
}

// askInput sends input_request on the stdin channel to the client that
// sent the running execute_request, and waits for its input_reply.
func (k *Kernel) askInput(ctx context.Context, prompt string, password bool) (string, error) {
	k.mu.Lock()
	parent := k.running
	if parent == nil || k.input != nil {
		k.mu.Unlock()
		return "", &interp.GuestError{Type: "StdinNotImplementedError", Message: "input() is only available while a cell runs"}
	}
	answer := make(chan string, 1)
	k.input = answer
	execDone := k.execDone
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.input = nil
		k.mu.Unlock()
	}()
	m, err := protocol.NewMessage(parent, k.session, "input_request", map[string]any{"prompt": prompt, "password": password})
	if err != nil {
		return "", err
	}
	if err := k.tr.Send(protocol.Stdin, m); err != nil {
		return "", &interp.GuestError{Type: "StdinNotImplementedError", Message: "the frontend's stdin channel is not connected: " + err.Error()}
	}
	select {
	case v := <-answer:
		return v, nil
	case <-ctx.Done():
		return "", &interp.GuestError{Type: "KeyboardInterrupt", Message: ""}
	case <-execDone: // the cell ended (interrupted) before an answer came
		return "", &interp.GuestError{Type: "KeyboardInterrupt", Message: ""}
	case <-k.quit:
		return "", &interp.GuestError{Type: "EOFError", Message: "the kernel is shutting down"}
	}
}

func (k *Kernel) stdinMessage(m *protocol.Message) {
	if m.Header.MsgType != "input_reply" {
		k.log.Debug("unexpected stdin message", "msg_type", m.Header.MsgType)
		return
	}
	var reply struct {
		Value string `json:"value"`
	}
	if err := m.DecodeContent(&reply); err != nil {
		k.log.Warn("bad input_reply", "err", err)
		return
	}
	k.mu.Lock()
	answer := k.input
	k.mu.Unlock()
	if answer == nil {
		k.log.Debug("input_reply with no pending input_request")
		return
	}
	select {
	case answer <- reply.Value:
	default:
	}
}
