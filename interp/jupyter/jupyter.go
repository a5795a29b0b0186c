// Package jupyter makes an interp.Process a kernel.Interpreter: typed
// requests in, guest calls out; guest events out as typed content.
//
// It is the one place that knows both vocabularies. The guest runtime
// shapes its replies and events as Jupyter content; this package decodes
// each into the structs of protocol/content, display and comm and checks
// it there, so a reply that does not fit (a completion range outside the
// code, an is_complete status the spec lacks, a display bundle with no
// data) is rejected and logged here and never reaches the wire.
package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/kernel"
	"github.com/wasipy/wasipy/protocol/content"
)

// Process is what the adapter uses of an *interp.Process (a fake in
// tests).
type Process interface {
	Hello() json.RawMessage
	Call(ctx context.Context, typ string, content any, events func(interp.Event)) (json.RawMessage, error)
	CallAlongside(ctx context.Context, typ string, content any) (json.RawMessage, error)
	RingAlongside(ctx context.Context, typ string, content any) (json.RawMessage, error)
	SetBackground(func(interp.Event))
	SetHostHandler(interp.HostHandler)
	Interrupt() error
	Close() error
	Done() <-chan struct{}
	Err() error
}

var _ Process = (*interp.Process)(nil)

// Options name the kernel in the banner.
type Options struct {
	Implementation string // "wasipy"
	Version        string // the kernel's version
	Log            *slog.Logger
}

// Interpreter is a kernel.Interpreter backed by a Process.
type Interpreter struct {
	p    Process
	host kernel.Host
	info content.KernelInfoReply
	log  *slog.Logger
}

var _ kernel.Interpreter = (*Interpreter)(nil)

// New adapts p, which was just started, for the kernel: p's background
// output goes to host.Background and its input() to host.Input. It fails
// when the guest's hello does not describe a language.
func New(p Process, host kernel.Host, opts Options) (*Interpreter, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var lang content.LanguageInfo
	if err := json.Unmarshal(p.Hello(), &lang); err != nil || lang.Name == "" || lang.Version == "" {
		return nil, fmt.Errorf("the interpreter's hello names no language and version: %.200s", p.Hello())
	}
	a := &Interpreter{p: p, host: host, log: opts.Log, info: kernelInfo(lang, opts)}
	p.SetBackground(func(e interp.Event) { a.publish(host.Background(e.ParentID), e) })
	p.SetHostHandler(a.hostRequest)
	return a, nil
}

// kernelInfo is the language's part of kernel_info_reply. Everything the
// kernel says about Python comes from the version the guest reported.
func kernelInfo(lang content.LanguageInfo, opts Options) content.KernelInfoReply {
	docs := "https://docs.python.org/" + docsVersion(lang.Version) + "/"
	return content.KernelInfoReply{
		LanguageInfo: lang,
		Banner: fmt.Sprintf("Python %s on WebAssembly (WASI), run by %s %s in a sandbox",
			lang.Version, opts.Implementation, opts.Version),
		HelpLinks: []content.HelpLink{
			{Text: "Python Reference", URL: docs},
			{Text: "Python Library Reference", URL: docs + "library/"},
		},
		// The runtime's _wasipy_debugger answers debug_request.
		Debugger: true,
	}
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

// KernelInfo implements kernel.Interpreter.
func (a *Interpreter) KernelInfo() content.KernelInfoReply { return a.info }

// LanguageVersion is the interpreter's version, as it reported it.
func (a *Interpreter) LanguageVersion() string { return a.info.LanguageInfo.Version }

// Execute runs a cell. The guest attributes output of tasks the cell
// starts to parent_id, which the kernel maps back to the cell.
func (a *Interpreter) Execute(ctx context.Context, req content.ExecuteRequest, cell kernel.Cell, pub kernel.Publisher) (content.ExecuteReply, error) {
	exprs := req.UserExpressions
	if exprs == nil {
		exprs = map[string]string{}
	}
	raw, err := a.p.Call(ctx, "execute", map[string]any{
		"code":             req.Code,
		"silent":           req.Silent,
		"store_history":    req.Stores(),
		"user_expressions": exprs,
		"execution_count":  cell.ExecutionCount,
		"allow_stdin":      req.StdinAllowed(),
		"parent_id":        cell.Parent.MsgID,
		"parent_header":    cell.Parent,
	}, func(e interp.Event) { a.publish(pub, e) })
	if err != nil {
		return content.ExecuteReply{}, exitError(err)
	}
	var reply content.ExecuteReply
	if err := decode(raw, &reply, reply.Check); err != nil {
		a.log.Warn("rejected the interpreter's execute_reply", "err", err)
		return content.ExecuteReply{Status: content.StatusError, Error: content.NewError("KernelError", "the interpreter sent a malformed reply")}, nil
	}
	return reply, nil
}

// Complete asks the guest's completer; a reply that does not fit the
// request is rejected.
func (a *Interpreter) Complete(ctx context.Context, req content.CompleteRequest) (content.CompleteReply, error) {
	var reply content.CompleteReply
	return reply, a.call(ctx, "complete", req, &reply, func() error { return reply.Check(req) })
}

// Inspect asks the guest's inspector.
func (a *Interpreter) Inspect(ctx context.Context, req content.InspectRequest) (content.InspectReply, error) {
	var reply content.InspectReply
	return reply, a.call(ctx, "inspect", req, &reply, reply.Check)
}

// IsComplete asks the guest whether code is a complete statement.
func (a *Interpreter) IsComplete(ctx context.Context, req content.IsCompleteRequest) (content.IsCompleteReply, error) {
	var reply content.IsCompleteReply
	return reply, a.call(ctx, "is_complete", req, &reply, reply.Check)
}

// call runs one request whose reply is a content struct, decodes the
// reply into out and checks it.
func (a *Interpreter) call(ctx context.Context, typ string, req, out any, check func() error) error {
	raw, err := a.p.Call(ctx, typ, req, nil)
	if err != nil {
		return exitError(err)
	}
	if err := decode(raw, out, check); err != nil {
		a.log.Warn("rejected the interpreter's reply", "request", typ, "err", err)
		return err
	}
	return nil
}

// decode unmarshals a guest reply and runs its check.
func decode(raw json.RawMessage, out any, check func() error) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return err
	}
	return check()
}

// Debug hands a DAP request to the guest's debugger. It is sent alongside
// a running cell: a guest stopped at a breakpoint serves it from its wait.
//
// A pause must stop a cell that runs without ever reading the channel, so
// it rings: the guest takes the interrupt that follows it as a doorbell.
func (a *Interpreter) Debug(ctx context.Context, req content.DebugRequest) (content.DebugReply, error) {
	send := a.p.CallAlongside
	if req.Command == "pause" {
		send = a.p.RingAlongside
	}
	raw, err := send(ctx, string(guestproto.DebugRequest), req)
	if err != nil {
		return nil, exitError(err)
	}
	reply := content.DebugReply(raw)
	if err := reply.Check(); err != nil {
		a.log.Warn("rejected the interpreter's debug_reply", "command", req.Command, "err", err)
		return content.DebugFailure(req, "the interpreter sent a malformed reply"), nil
	}
	return reply, nil
}

// maxComms bounds the comms one comm_info_reply lists from the guest.
const maxComms = 100000

// CommInfo asks the guest's CommManager, the one record of Python's
// comms, which are open (of req.TargetName, when it is set).
func (a *Interpreter) CommInfo(ctx context.Context, req content.CommInfoRequest) (content.CommInfoReply, error) {
	var reply struct {
		Comms map[string]content.CommTarget `json:"comms"`
	}
	check := func() error {
		if len(reply.Comms) > maxComms {
			return fmt.Errorf("comm_info: %d comms listed, more than %d", len(reply.Comms), maxComms)
		}
		for id, c := range reply.Comms {
			if id == "" {
				return errors.New("comm_info: an entry without an id")
			}
			if req.TargetName != "" && c.TargetName != req.TargetName {
				return fmt.Errorf("comm_info: asked for target %q, got %q", req.TargetName, c.TargetName)
			}
		}
		return nil
	}
	if err := a.call(ctx, string(guestproto.CommInfo), req, &reply, check); err != nil {
		return content.CommInfoReply{}, err
	}
	if reply.Comms == nil {
		reply.Comms = map[string]content.CommTarget{}
	}
	return content.CommInfoReply{Status: content.StatusOK, Comms: reply.Comms}, nil
}

// Comm hands a frontend's comm message to the guest's CommManager.
func (a *Interpreter) Comm(ctx context.Context, msg comm.Message, pub kernel.Publisher) error {
	metadata := msg.Metadata
	if metadata == nil {
		metadata = map[string]any{}
	}
	_, err := a.p.Call(ctx, msg.Type, &interp.Payload{
		Content: map[string]any{
			"content":  msg.Content(),
			"metadata": metadata,
			"header":   msg.Header,
		},
		Buffers: msg.Buffers,
	}, func(e interp.Event) { a.publish(pub, e) })
	return exitError(err)
}

// Interrupt implements kernel.Interpreter.
func (a *Interpreter) Interrupt() error { return a.p.Interrupt() }

// Close implements kernel.Interpreter.
func (a *Interpreter) Close() error { return a.p.Close() }

// Done implements kernel.Interpreter.
func (a *Interpreter) Done() <-chan struct{} { return a.p.Done() }

// Err says how the interpreter ended: a *kernel.GuestExit when its code
// asked to.
func (a *Interpreter) Err() error { return exitError(a.p.Err()) }

// exitError tells the kernel an exit the guest's code asked for (a clean
// proc_exit: os._exit, os.kill of itself, os.abort) from a crash (a trap,
// the worker killed), which keeps its own error.
func exitError(err error) error {
	var e *interp.ExitError
	if errors.As(err, &e) && e.Reason == "" && e.Signal == "" {
		return &kernel.GuestExit{Code: int(e.Code), Err: err}
	}
	return err
}

// publish turns one guest event into typed content for pub. What does not
// decode is dropped and logged: the guest's code can write any event.
func (a *Interpreter) publish(pub kernel.Publisher, e interp.Event) {
	switch {
	case e.Type == string(guestproto.DebugEvent):
		// The debugger's events are the session's, not the cell's: they
		// bypass its output budget.
		ev := content.DebugEvent(e.Content)
		if err := ev.Check(); err != nil {
			a.log.Warn("dropping a malformed debug event", "err", err)
			return
		}
		a.host.DebugEvent(ev)
	case e.Type == "stream":
		var s content.Stream
		if err := json.Unmarshal(e.Content, &s); err != nil {
			a.log.Warn("dropping a malformed stream event", "err", err)
			return
		}
		pub.Stream(s.Name, s.Text)
	case e.Type == "error":
		var c content.Error
		if err := json.Unmarshal(e.Content, &c); err != nil || c.Ename == "" && c.Evalue == "" && len(c.Traceback) == 0 {
			a.log.Warn("dropping a malformed error event", "err", err)
			return
		}
		pub.Error(c)
	case comm.IsType(e.Type):
		m, err := comm.Decode(e.Type, e.Content)
		if err != nil {
			a.log.Warn("dropping a malformed comm message from the interpreter", "err", err)
			return
		}
		if len(e.Metadata) > 0 && json.Unmarshal(e.Metadata, &m.Metadata) != nil {
			m.Metadata = nil
		}
		m.Buffers = e.Buffers
		pub.Comm(m)
	case display.IsKind(e.Type):
		o, err := display.Decode(e.Type, e.Content)
		if err != nil {
			a.log.Warn("dropping a malformed display message from the interpreter", "err", err)
			return
		}
		_ = pub.Display(o) // the publisher logs what it refuses
	default:
		a.log.Warn("unknown interpreter event", "type", e.Type)
	}
}

// hostRequest answers what the guest asks of the kernel: input().
func (a *Interpreter) hostRequest(ctx context.Context, method string, raw json.RawMessage, _ [][]byte) (any, [][]byte, error) {
	if method != "input" {
		return nil, nil, fmt.Errorf("unknown host request %q", method)
	}
	var req content.InputRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, nil, err
	}
	answer, err := a.host.Input(ctx, req.Prompt, req.Password)
	var ie *kernel.InputError
	if errors.As(err, &ie) {
		return nil, nil, &interp.GuestError{Type: ie.Type, Message: ie.Message}
	}
	return answer, nil, err
}
