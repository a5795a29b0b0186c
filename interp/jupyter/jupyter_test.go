package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/kernel"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// fakeProcess answers each request type with a canned reply and events,
// as the guest would.
type fakeProcess struct {
	hello   string
	replies map[string]string
	events  map[string][]interp.Event
	callErr error
	exitErr error

	mu         sync.Mutex
	sent       map[string]any
	rang       int // RingAlongside calls
	background func(interp.Event)
	host       interp.HostHandler
}

func (f *fakeProcess) Hello() json.RawMessage { return json.RawMessage(f.hello) }
func (f *fakeProcess) Call(ctx context.Context, typ string, c any, events func(interp.Event)) (json.RawMessage, error) {
	f.mu.Lock()
	if f.sent == nil {
		f.sent = map[string]any{}
	}
	f.sent[typ] = c
	f.mu.Unlock()
	for _, e := range f.events[typ] {
		events(e)
	}
	if f.callErr != nil {
		return nil, f.callErr
	}
	return json.RawMessage(f.replies[typ]), nil
}
func (f *fakeProcess) CallAlongside(ctx context.Context, typ string, c any) (json.RawMessage, error) {
	return f.Call(ctx, typ, c, f.background)
}
func (f *fakeProcess) RingAlongside(ctx context.Context, typ string, c any) (json.RawMessage, error) {
	f.mu.Lock()
	f.rang++
	f.mu.Unlock()
	return f.Call(ctx, typ, c, f.background)
}
func (f *fakeProcess) SetBackground(b func(interp.Event))  { f.background = b }
func (f *fakeProcess) SetHostHandler(h interp.HostHandler) { f.host = h }
func (f *fakeProcess) Interrupt() error                    { return nil }
func (f *fakeProcess) Close() error                        { return nil }
func (f *fakeProcess) Done() <-chan struct{}               { return nil }
func (f *fakeProcess) Err() error                          { return f.exitErr }

const hello = `{"name":"python","version":"3.13.5","mimetype":"text/x-python","file_extension":".py","pygments_lexer":"ipython3","codemirror_mode":{"name":"ipython","version":3},"nbconvert_exporter":"python"}`

// recorder is a kernel.Publisher and kernel.Host that keeps what it got.
type recorder struct {
	got    []string
	input  string
	inErr  error
	parent string
}

func (r *recorder) Stream(name, text string) { r.got = append(r.got, "stream "+name+" "+text) }
func (r *recorder) Error(e content.Error)    { r.got = append(r.got, "error "+e.Ename) }
func (r *recorder) Comm(m comm.Message) {
	r.got = append(r.got, fmt.Sprintf("%s %s %s %d", m.Type, m.CommID, m.Metadata["k"], len(m.Buffers)))
}
func (r *recorder) Display(o display.Output) error {
	r.got = append(r.got, string(o.Kind)+" "+*o.PlainText())
	return nil
}
func (r *recorder) Background(parentID string) kernel.Publisher {
	r.parent = parentID
	return r
}
func (r *recorder) DebugEvent(e content.DebugEvent) { r.got = append(r.got, "debug_event "+string(e)) }
func (r *recorder) Input(ctx context.Context, prompt string, password bool) (string, error) {
	return r.input + prompt, r.inErr
}

func adapt(t *testing.T, p *fakeProcess) (*Interpreter, *recorder) {
	t.Helper()
	if p.hello == "" {
		p.hello = hello
	}
	r := &recorder{}
	a, err := New(p, r, Options{Implementation: "wasipy", Version: "1.0"})
	require.NoError(t, err)
	return a, r
}

func TestKernelInfoFollowsTheGuestsVersion(t *testing.T) {
	a, _ := adapt(t, &fakeProcess{})
	info := a.KernelInfo()
	require.Equal(t, "3.13.5", info.LanguageInfo.Version)
	require.JSONEq(t, `{"name":"ipython","version":3}`, string(info.LanguageInfo.CodemirrorMode))
	require.Equal(t, "https://docs.python.org/3.13/library/", info.HelpLinks[1].URL)
	require.Contains(t, info.Banner, "wasipy 1.0")

	for _, bad := range []string{`{}`, `{"name":"python"}`, `[1]`} {
		_, err := New(&fakeProcess{hello: bad}, &recorder{}, Options{})
		require.Error(t, err, bad)
	}
}

// Every event kind reaches the publisher typed; malformed ones are
// dropped, and the cell goes on.
func TestExecuteTurnsEventsIntoTypedContent(t *testing.T) {
	p := &fakeProcess{
		replies: map[string]string{"execute": `{"status":"ok","user_expressions":{"x":{"status":"ok","data":{}}}}`},
		events: map[string][]interp.Event{"execute": {
			{Type: "stream", Content: json.RawMessage(`{"name":"stdout","text":"hi"}`)},
			{Type: "stream", Content: json.RawMessage(`"not an object"`)},
			{Type: "execute_result", Content: json.RawMessage(`{"execution_count":1,"data":{"text/plain":"42"}}`)},
			{Type: "display_data", Content: json.RawMessage(`{"data":{}}`)},
			{Type: "error", Content: json.RawMessage(`{"ename":"ValueError","evalue":"x","traceback":[]}`)},
			{Type: "error", Content: json.RawMessage(`{}`)},
			{Type: "comm_open", Content: json.RawMessage(`{"comm_id":"c1","target_name":"t","data":{}}`), Metadata: json.RawMessage(`{"k":"v"}`), Buffers: [][]byte{{1}}},
			{Type: "comm_msg", Content: json.RawMessage(`{"data":{}}`)},
			{Type: "no_such_event", Content: json.RawMessage(`{}`)},
		}},
	}
	a, r := adapt(t, p)
	parent := protocol.Header{MsgID: "m1", MsgType: "execute_request"}
	reply, err := a.Execute(t.Context(), content.ExecuteRequest{Code: "1", Silent: false}, kernel.Cell{ExecutionCount: 4, Parent: parent}, r)
	require.NoError(t, err)
	require.Equal(t, content.StatusOK, reply.Status)
	require.Equal(t, []string{"stream stdout hi", "execute_result 42", "error ValueError", "comm_open c1 v 1"}, r.got)

	sent := p.sent["execute"].(map[string]any)
	require.Equal(t, 4, sent["execution_count"])
	require.Equal(t, "m1", sent["parent_id"])
	require.Equal(t, true, sent["store_history"])
	require.Equal(t, true, sent["allow_stdin"])
	require.Equal(t, map[string]string{}, sent["user_expressions"])

	// Output of a background task goes where the kernel says for its parent.
	p.background(interp.Event{Type: "stream", Content: json.RawMessage(`{"name":"stderr","text":"late"}`), ParentID: "m0"})
	require.Equal(t, "m0", r.parent)
	require.Equal(t, "stream stderr late", r.got[len(r.got)-1])
}

// Replies that do not fit the spec or the request are rejected here.
func TestRepliesAreCheckedInGo(t *testing.T) {
	for _, c := range []struct {
		typ, reply, why string
	}{
		{"complete", `{"status":"ok","matches":["ab"],"cursor_start":0,"cursor_end":9}`, "outside the code"},
		{"complete", `{"status":"ok","matches":["ab"],"cursor_start":2,"cursor_end":1}`, "outside the code"},
		{"complete", `{"status":"maybe","matches":[]}`, "status"},
		{"complete", `{"status":"ok","matches":[1]}`, "cannot unmarshal"},
		{"inspect", `{"status":"ok","found":true,"data":{}}`, "found without data"},
		{"is_complete", `{"status":"perhaps"}`, "status"},
		{"is_complete", `{"status":"incomplete","indent":"rm -rf"}`, "not blanks"},
	} {
		a, _ := adapt(t, &fakeProcess{replies: map[string]string{c.typ: c.reply}})
		var err error
		switch c.typ {
		case "complete":
			_, err = a.Complete(t.Context(), content.CompleteRequest{Code: "ab", CursorPos: 2})
		case "inspect":
			_, err = a.Inspect(t.Context(), content.InspectRequest{Code: "ab", CursorPos: 2})
		case "is_complete":
			_, err = a.IsComplete(t.Context(), content.IsCompleteRequest{Code: "if x:"})
		}
		require.ErrorContains(t, err, c.why, "%s %s", c.typ, c.reply)
	}

	a, _ := adapt(t, &fakeProcess{replies: map[string]string{
		"complete":    `{"status":"ok","matches":["abs"],"cursor_start":0,"cursor_end":2,"metadata":{"_jupyter_types_experimental":[]}}`,
		"is_complete": `{"status":"incomplete","indent":"    "}`,
		"execute":     `{"status":"error"}`,
	}})
	cr, err := a.Complete(t.Context(), content.CompleteRequest{Code: "ab", CursorPos: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"abs"}, cr.Matches)
	ir, err := a.IsComplete(t.Context(), content.IsCompleteRequest{Code: "if x:"})
	require.NoError(t, err)
	require.Equal(t, "    ", ir.Indent)
	// An execute_reply that does not fit becomes a KernelError, not a lost
	// interpreter.
	er, err := a.Execute(t.Context(), content.ExecuteRequest{Code: "x"}, kernel.Cell{}, &recorder{})
	require.NoError(t, err)
	require.Equal(t, "KernelError", er.Ename)
}

// An exit the code asked for is a GuestExit; a crash keeps its error.
func TestExitsAreTold(t *testing.T) {
	for _, c := range []struct {
		err   error
		guest bool
	}{
		{&interp.ExitError{Code: 3}, true},
		{fmt.Errorf("call: %w", &interp.ExitError{Code: 143}), true},
		{&interp.ExitError{Code: 1, Reason: "wasm error: unreachable"}, false},
		{&interp.ExitError{Code: 0, Signal: "signal: killed"}, false},
		{errors.New("pipe broken"), false},
	} {
		a, _ := adapt(t, &fakeProcess{callErr: c.err, exitErr: c.err})
		_, err := a.Execute(t.Context(), content.ExecuteRequest{}, kernel.Cell{}, &recorder{})
		var ge *kernel.GuestExit
		require.Equal(t, c.guest, errors.As(err, &ge), "%v", c.err)
		require.Equal(t, c.guest, errors.As(a.Err(), &ge), "%v", c.err)
		require.ErrorIs(t, err, c.err)
	}
}

func TestInputErrorsReachPythonAsTheirType(t *testing.T) {
	p := &fakeProcess{}
	_, r := adapt(t, p)
	r.input = "Ada:"
	v, _, err := p.host(t.Context(), "input", json.RawMessage(`{"prompt":"name?","password":false}`), nil)
	require.NoError(t, err)
	require.Equal(t, "Ada:name?", v)
	r.inErr = &kernel.InputError{Type: "EOFError", Message: "bye"}
	_, _, err = p.host(t.Context(), "input", json.RawMessage(`{"prompt":""}`), nil)
	require.Equal(t, &interp.GuestError{Type: "EOFError", Message: "bye"}, err)
	_, _, err = p.host(t.Context(), "rm", json.RawMessage(`{}`), nil)
	require.ErrorContains(t, err, "unknown host request")
}

// Promise: comm_info_request is answered from the guest's CommManager
// (a comm_info request of the guest protocol, the target passed on), and a
// reply that does not fit (no id, another target than asked, not an
// object) is refused rather than passed to the frontend.
func TestCommInfoAsksTheGuestsCommManager(t *testing.T) {
	f := &fakeProcess{replies: map[string]string{"comm_info": `{"comms":{"c1":{"target_name":"jupyter.widget"},"c2":{"target_name":"other"}}}`}}
	a, _ := adapt(t, f)
	r, err := a.CommInfo(t.Context(), content.CommInfoRequest{})
	require.NoError(t, err)
	require.Equal(t, map[string]content.CommTarget{"c1": {TargetName: "jupyter.widget"}, "c2": {TargetName: "other"}}, r.Comms)

	f = &fakeProcess{replies: map[string]string{"comm_info": `{"comms":{"c2":{"target_name":"other"}}}`}}
	a, _ = adapt(t, f)
	r, err = a.CommInfo(t.Context(), content.CommInfoRequest{TargetName: "other"})
	require.NoError(t, err)
	require.Equal(t, map[string]content.CommTarget{"c2": {TargetName: "other"}}, r.Comms)
	require.Equal(t, content.CommInfoRequest{TargetName: "other"}, f.sent["comm_info"])

	f = &fakeProcess{replies: map[string]string{"comm_info": `{}`}}
	a, _ = adapt(t, f)
	r, err = a.CommInfo(t.Context(), content.CommInfoRequest{})
	require.NoError(t, err)
	require.NotNil(t, r.Comms, "an empty comms object, never null")

	for _, bad := range []string{`"nope"`, `{"comms":[1]}`, `{"comms":{"":{"target_name":"t"}}}`, `{"comms":{"c1":"t"}}`} {
		a, _ := adapt(t, &fakeProcess{replies: map[string]string{"comm_info": bad}})
		_, err := a.CommInfo(t.Context(), content.CommInfoRequest{})
		require.Error(t, err, bad)
	}
	a, _ = adapt(t, &fakeProcess{replies: map[string]string{"comm_info": `{"comms":{"c1":{"target_name":"jupyter.widget"}}}`}})
	_, err = a.CommInfo(t.Context(), content.CommInfoRequest{TargetName: "other"})
	require.Error(t, err, "a comm of another target than asked")
}

// Debug passes the DAP request to the guest and its response back; a
// response that is not one becomes a DAP failure. The debugger's events go
// to the host whether a cell runs or not; malformed ones are dropped.
func TestDebugRequestsAndEvents(t *testing.T) {
	p := &fakeProcess{
		replies: map[string]string{"debug_request": `{"seq":1,"type":"response","request_seq":4,"command":"threads","success":true,"body":{"threads":[]}}`},
		events: map[string][]interp.Event{"debug_request": {
			{Type: "debug_event", Content: json.RawMessage(`{"seq":2,"type":"event","event":"stopped","body":{}}`)},
			{Type: "debug_event", Content: json.RawMessage(`{"type":"response"}`)},
			{Type: "debug_event", Content: json.RawMessage(`[1]`)},
		}},
	}
	a, r := adapt(t, p)
	require.True(t, a.KernelInfo().Debugger)
	req := content.DebugRequest{Type: "request", Seq: 4, Command: "threads"}
	reply, err := a.Debug(t.Context(), req)
	require.NoError(t, err)
	require.JSONEq(t, p.replies["debug_request"], string(reply))
	require.Equal(t, req, p.sent["debug_request"])
	require.Equal(t, []string{`debug_event {"seq":2,"type":"event","event":"stopped","body":{}}`}, r.got)
	require.Zero(t, p.rang)
	_, err = a.Debug(t.Context(), content.DebugRequest{Type: "request", Seq: 5, Command: "pause"})
	require.NoError(t, err)
	require.Equal(t, 1, p.rang, "a pause rings")

	p.replies["debug_request"] = `{"status":"ok"}`
	reply, err = a.Debug(t.Context(), req)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(reply, &got))
	require.Equal(t, false, got["success"])
	require.EqualValues(t, 4, got["request_seq"])
}
