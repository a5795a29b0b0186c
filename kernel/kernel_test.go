package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// fakeTransport records what the kernel sends and publishes.
type fakeTransport struct {
	mu        sync.Mutex
	sent      []*protocol.Message
	published []*protocol.Message
	order     []*protocol.Message // sent and published, in the order they left
	notify    chan struct{}
	// flushes holds, for each Flush, how many messages had been sent and
	// published before it.
	flushes [][2]int
}

// Flush records when it was called (the kernel flushes iopub before an
// input_request).
func (f *fakeTransport) Flush(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes = append(f.flushes, [2]int{len(f.sent), len(f.published)})
	return nil
}

func newFakeTransport() *fakeTransport { return &fakeTransport{notify: make(chan struct{}, 1000)} }

func (f *fakeTransport) Send(ch protocol.Channel, m *protocol.Message) error {
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.order = append(f.order, m)
	f.mu.Unlock()
	f.notify <- struct{}{}
	return nil
}

func (f *fakeTransport) Publish(m *protocol.Message) {
	f.mu.Lock()
	f.published = append(f.published, m)
	f.order = append(f.order, m)
	f.mu.Unlock()
}

// waitReply waits for the reply to the request with msgID (an
// input_request on stdin is not one).
func (f *fakeTransport) waitReply(t *testing.T, msgID string) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		for _, m := range f.sent {
			if m.ParentHeader.MsgID == msgID && m.Header.MsgType != "input_request" {
				f.mu.Unlock()
				var c map[string]any
				require.NoError(t, json.Unmarshal(m.Content, &c))
				c["_msg_type"] = m.Header.MsgType
				return c
			}
		}
		f.mu.Unlock()
		select {
		case <-f.notify:
		case <-deadline:
			t.Fatalf("no reply to %s", msgID)
		}
	}
}

// iopub returns the msg_types published for the request with msgID.
func (f *fakeTransport) iopub(msgID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.published {
		if m.ParentHeader.MsgID == msgID {
			t := m.Header.MsgType
			if t == "status" {
				var c struct {
					State string `json:"execution_state"`
				}
				_ = json.Unmarshal(m.Content, &c)
				t += ":" + c.State
			}
			out = append(out, t)
		}
	}
	return out
}

// publishedFor returns the messages published under the request msgID.
func (f *fakeTransport) publishedFor(msgID string) []*protocol.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*protocol.Message
	for _, m := range f.published {
		if m.ParentHeader.MsgID == msgID {
			out = append(out, m)
		}
	}
	return out
}

// waitIOPub waits until the request's iopub messages are exactly want (the
// idle status is published after the reply is sent).
func (f *fakeTransport) waitIOPub(t *testing.T, msgID string, want []string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := f.iopub(msgID)
		return len(got) == len(want) && strings.Join(got, ",") == strings.Join(want, ",")
	}, 5*time.Second, time.Millisecond, "iopub for %s: want %v, got %v", msgID, want, f.iopub(msgID))
}

// fakeInterp answers Execute by running a script keyed by the code.
type fakeInterp struct {
	mu          sync.Mutex
	calls       []content.ExecuteRequest
	block       chan struct{} // when set, "block" code waits on it
	busy        chan struct{} // when set, CommInfo waits on it (as for a running cell)
	interrupted int
	closed      bool
	exitErr     error
	done        chan struct{}
	host        Host
	comms       map[string]content.CommTarget
}

func newFakeInterp(host Host) *fakeInterp {
	return &fakeInterp{done: make(chan struct{}), host: host, comms: map[string]content.CommTarget{}}
}

func (f *fakeInterp) KernelInfo() content.KernelInfoReply {
	return content.KernelInfoReply{
		LanguageInfo: content.LanguageInfo{Name: "python", Version: "3.12.0", Mimetype: "text/x-python", FileExtension: ".py"},
		Banner:       "fake",
	}
}
func (f *fakeInterp) Interrupt() error {
	f.mu.Lock()
	f.interrupted++
	f.mu.Unlock()
	return nil
}
func (f *fakeInterp) Close() error { f.exit(nil); return nil }

// exit ends the interpreter with err (nil: closed on purpose).
func (f *fakeInterp) exit(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.exitErr = true, err
		close(f.done)
	}
}
func (f *fakeInterp) Done() <-chan struct{} { return f.done }
func (f *fakeInterp) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exitErr
}

func (f *fakeInterp) Execute(ctx context.Context, req content.ExecuteRequest, cell Cell, pub Publisher) (content.ExecuteReply, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	switch req.Code {
	case "error":
		e := content.NewError("ValueError", "x")
		pub.Error(*e)
		return content.ExecuteReply{Status: content.StatusError, Error: e}, nil
	case "block":
		select {
		case <-f.block:
		case <-f.done:
			return content.ExecuteReply{}, errors.New("the interpreter exited with code 137")
		}
	case "crash":
		f.exit(errors.New("the interpreter exited with code 3"))
		return content.ExecuteReply{}, f.Err()
	case "exit":
		f.exit(&GuestExit{Code: 3})
		return content.ExecuteReply{}, f.Err()
	case "result":
		var b display.Bundle
		_ = b.Set("text/plain", "42")
		_ = pub.Display(display.Output{Kind: display.ExecuteResult, Bundle: b, ExecutionCount: cell.ExecutionCount})
		_ = pub.Display(display.Output{Kind: display.DisplayData}) // malformed: dropped
	case "input":
		v, err := f.host.Input(ctx, "name? ", false)
		if err != nil {
			pub.Stream("stderr", err.Error())
		} else {
			pub.Stream("stdout", v)
		}
	case "widget":
		f.mu.Lock()
		f.comms["w1"] = content.CommTarget{TargetName: "jupyter.widget"}
		f.mu.Unlock()
		pub.Comm(comm.Message{Type: comm.Open, CommID: "w1", TargetName: "jupyter.widget"})
	}
	return content.ExecuteReply{Status: content.StatusOK}, nil
}

func (f *fakeInterp) Complete(ctx context.Context, req content.CompleteRequest) (content.CompleteReply, error) {
	return content.CompleteReply{Status: "ok", Matches: []string{req.Code + "x"}, CursorStart: 0, CursorEnd: req.CursorPos}, nil
}

func (f *fakeInterp) Inspect(ctx context.Context, req content.InspectRequest) (content.InspectReply, error) {
	return content.NotFound(), nil
}

func (f *fakeInterp) IsComplete(ctx context.Context, req content.IsCompleteRequest) (content.IsCompleteReply, error) {
	return content.IsCompleteReply{Status: "complete"}, nil
}

func (f *fakeInterp) CommInfo(ctx context.Context, req content.CommInfoRequest) (content.CommInfoReply, error) {
	if f.busy != nil {
		<-f.busy
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]content.CommTarget{}
	for id, c := range f.comms {
		if req.TargetName == "" || c.TargetName == req.TargetName {
			out[id] = c
		}
	}
	return content.CommInfoReply{Status: "ok", Comms: out}, nil
}

// Debug answers as a debugger stopped in the "block" cell would: at once,
// even while Execute runs; "pause" also emits a stopped event and "hang"
// waits for the cell to end, as a guest running without stopping does.
func (f *fakeInterp) Debug(ctx context.Context, req content.DebugRequest) (content.DebugReply, error) {
	switch req.Command {
	case "pause":
		f.host.DebugEvent(content.DebugEvent(`{"seq":1,"type":"event","event":"stopped","body":{"reason":"pause","threadId":1}}`))
	case "hang":
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return content.DebugReply(fmt.Sprintf(`{"seq":2,"type":"response","request_seq":%d,"command":%q,"success":true,"body":{}}`, req.Seq, req.Command)), nil
}

func (f *fakeInterp) Comm(ctx context.Context, msg comm.Message, pub Publisher) error {
	pub.Stream("stdout", "interpreter got "+msg.Type+" "+msg.CommID)
	return nil
}

type harness struct {
	k       *Kernel
	tr      *fakeTransport
	mu      sync.Mutex
	interps []*fakeInterp
	cancel  context.CancelFunc
}

func newHarness(t *testing.T, opts ...func(*Options)) *harness {
	h := &harness{tr: newFakeTransport()}
	start := func(ctx context.Context, host Host) (Interpreter, error) {
		f := newFakeInterp(host)
		f.block = make(chan struct{})
		h.mu.Lock()
		h.interps = append(h.interps, f)
		h.mu.Unlock()
		return f, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	o := Options{Implementation: "wasipy", Version: "test", InterruptGrace: 50 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	k, err := New(ctx, h.tr, start, o)
	require.NoError(t, err)
	h.k = k
	go k.Run(ctx)
	t.Cleanup(func() { cancel(); k.Close() })
	return h
}

func (h *harness) interp(i int) *fakeInterp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.interps[i]
}

func (h *harness) send(t *testing.T, ch protocol.Channel, msgType string, content any) string {
	t.Helper()
	m, err := protocol.NewMessage(nil, "client-session", msgType, content)
	require.NoError(t, err)
	h.k.HandleMessage(ch, m)
	return m.Header.MsgID
}

func TestKernelInfoOnShellAndControl(t *testing.T) {
	h := newHarness(t)
	for _, ch := range []protocol.Channel{protocol.Shell, protocol.Control} {
		id := h.send(t, ch, "kernel_info_request", map[string]any{})
		r := h.tr.waitReply(t, id)
		require.Equal(t, "kernel_info_reply", r["_msg_type"])
		require.Equal(t, protocol.Version, r["protocol_version"])
		require.Equal(t, "wasipy", r["implementation"])
		require.Equal(t, "3.12.0", r["language_info"].(map[string]any)["version"])
		h.tr.waitIOPub(t, id, []string{"status:busy", "status:idle"})
	}
}

// connect_request is answered with the ports the kernel was given, on
// shell and on control, as ipykernel answers it.
func TestConnectRequestAnswersThePorts(t *testing.T) {
	ports := content.ConnectReply{ShellPort: 5001, IOPubPort: 5002, StdinPort: 5003, HBPort: 5004, ControlPort: 5005}
	h := newHarness(t, func(o *Options) { o.Ports = ports })
	for _, ch := range []protocol.Channel{protocol.Shell, protocol.Control} {
		id := h.send(t, ch, "connect_request", map[string]any{})
		r := h.tr.waitReply(t, id)
		require.Equal(t, map[string]any{"_msg_type": "connect_reply", "status": "ok", "shell_port": 5001.0,
			"iopub_port": 5002.0, "stdin_port": 5003.0, "hb_port": 5004.0, "control_port": 5005.0}, r)
		h.tr.waitIOPub(t, id, []string{"status:busy", "status:idle"})
	}
}

func TestExecuteCountsOnlyStoredExecutions(t *testing.T) {
	h := newHarness(t)
	id1 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "result"})
	require.EqualValues(t, 1, h.tr.waitReply(t, id1)["execution_count"])
	h.tr.waitIOPub(t, id1, []string{"status:busy", "execute_input", "execute_result", "status:idle"})

	id2 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x", "silent": true})
	require.EqualValues(t, 1, h.tr.waitReply(t, id2)["execution_count"])
	h.tr.waitIOPub(t, id2, []string{"status:busy", "status:idle"})

	id3 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x", "store_history": false})
	require.EqualValues(t, 1, h.tr.waitReply(t, id3)["execution_count"])

	id4 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	r := h.tr.waitReply(t, id4)
	require.EqualValues(t, 2, r["execution_count"])
	require.Equal(t, "ok", r["status"])
	require.Equal(t, []any{}, r["payload"])
}

func TestStopOnErrorAbortsQueuedExecutes(t *testing.T) {
	h := newHarness(t)
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	failing := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "error"})
	queued := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	info := h.send(t, protocol.Shell, "kernel_info_request", map[string]any{})
	close(h.interp(0).block)
	require.Equal(t, "ok", h.tr.waitReply(t, blocker)["status"])
	require.Equal(t, "error", h.tr.waitReply(t, failing)["status"])
	require.Equal(t, "aborted", h.tr.waitReply(t, queued)["status"])
	h.tr.waitIOPub(t, queued, []string{"status:busy", "status:idle"})
	require.Equal(t, "kernel_info_reply", h.tr.waitReply(t, info)["_msg_type"])

	// Without stop_on_error the next request runs.
	h.interp(0).block = make(chan struct{})
	failing = h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "error", "stop_on_error": false})
	next := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	require.Equal(t, "error", h.tr.waitReply(t, failing)["status"])
	require.Equal(t, "ok", h.tr.waitReply(t, next)["status"])
}

func TestControlAnswersWhileShellBusy(t *testing.T) {
	h := newHarness(t)
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	require.Eventually(t, func() bool { return len(h.tr.iopub(blocker)) >= 2 }, 5*time.Second, time.Millisecond)
	info := h.send(t, protocol.Control, "kernel_info_request", map[string]any{})
	require.Equal(t, "kernel_info_reply", h.tr.waitReply(t, info)["_msg_type"])
	close(h.interp(0).block)
	require.Equal(t, "ok", h.tr.waitReply(t, blocker)["status"])
}

func TestSecondInterruptReplacesStuckInterpreter(t *testing.T) {
	h := newHarness(t)
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	require.Eventually(t, func() bool { return len(h.tr.iopub(blocker)) >= 2 }, 5*time.Second, time.Millisecond)
	first := h.send(t, protocol.Control, "interrupt_request", map[string]any{})
	require.Equal(t, "ok", h.tr.waitReply(t, first)["status"])
	require.Equal(t, 1, h.interp(0).interrupted)
	time.Sleep(60 * time.Millisecond) // past InterruptGrace
	second := h.send(t, protocol.Control, "interrupt_request", map[string]any{})
	require.Equal(t, "ok", h.tr.waitReply(t, second)["status"])
	r := h.tr.waitReply(t, blocker)
	require.Equal(t, "error", r["status"])
	require.Equal(t, "KeyboardInterrupt", r["ename"])
	// A fresh interpreter serves the next cell and the count goes on.
	next := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	require.EqualValues(t, 2, h.tr.waitReply(t, next)["execution_count"])
	h.mu.Lock()
	require.Len(t, h.interps, 2)
	h.mu.Unlock()
}

func TestCrashedInterpreterIsReplaced(t *testing.T) {
	h := newHarness(t)
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "crash"})
	r := h.tr.waitReply(t, id)
	require.Equal(t, "error", r["status"])
	require.Equal(t, "InterpreterExited", r["ename"])
	require.Contains(t, h.tr.iopub(id), "error")
	next := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	require.Equal(t, "ok", h.tr.waitReply(t, next)["status"])
}

func TestShutdownEndsTheKernel(t *testing.T) {
	h := newHarness(t)
	id := h.send(t, protocol.Control, "shutdown_request", map[string]any{"restart": true})
	r := h.tr.waitReply(t, id)
	require.Equal(t, "shutdown_reply", r["_msg_type"])
	require.Equal(t, true, r["restart"])
	select {
	case <-h.k.Done():
	case <-time.After(time.Second):
		t.Fatal("kernel not done after shutdown_request")
	}
}

func TestCommInfoAndUnknownTypes(t *testing.T) {
	h := newHarness(t)
	h.send(t, protocol.Shell, "no_such_request", map[string]any{})
	id := h.send(t, protocol.Shell, "comm_info_request", map[string]any{})
	r := h.tr.waitReply(t, id)
	require.Equal(t, "ok", r["status"])
	require.Equal(t, map[string]any{}, r["comms"])
}

func TestHistoryRecordsStoredExecutions(t *testing.T) {
	store, err := history.Open(t.TempDir())
	require.NoError(t, err)
	defer store.Close()
	sess, err := store.NewSession()
	require.NoError(t, err)
	h := newHarness(t, func(o *Options) { o.History = sess })
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "result"}))
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "silent", "silent": true}))
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
	r := h.tr.waitReply(t, h.send(t, protocol.Shell, "history_request", map[string]any{
		"hist_access_type": "tail", "n": 10, "output": true, "raw": true,
	}))
	require.Equal(t, "ok", r["status"])
	n := float64(sess.Number())
	require.Equal(t, []any{
		[]any{n, 1.0, []any{"result", "42"}},
		[]any{n, 2.0, []any{"x", nil}},
	}, r["history"])
}

func TestFailedRestartIsRetriedByTheNextCell(t *testing.T) {
	tr := newFakeTransport()
	var mu sync.Mutex
	fail := false
	starts := 0
	start := func(ctx context.Context, host Host) (Interpreter, error) {
		mu.Lock()
		defer mu.Unlock()
		starts++
		if fail {
			return nil, errors.New("no python.wasm")
		}
		f := newFakeInterp(host)
		f.block = make(chan struct{})
		return f, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, err := New(ctx, tr, start, Options{Implementation: "wasipy", Version: "test"})
	require.NoError(t, err)
	defer k.Close()
	go k.Run(ctx)
	send := func(code string) map[string]any {
		m, err := protocol.NewMessage(nil, "s", "execute_request", map[string]any{"code": code})
		require.NoError(t, err)
		k.HandleMessage(protocol.Shell, m)
		return tr.waitReply(t, m.Header.MsgID)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	r := send("crash") // the interpreter dies and cannot be replaced
	require.Equal(t, "InterpreterExited", r["ename"])
	require.Contains(t, r["traceback"].([]any)[0], "could not be started")
	r = send("x") // still no interpreter: a clear error, no panic
	require.Equal(t, "error", r["status"])
	require.Contains(t, r["evalue"], "could not be started")
	mu.Lock()
	fail = false
	mu.Unlock()
	require.Equal(t, "ok", send("x")["status"])
}
