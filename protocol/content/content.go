// Package content holds the typed content of the Jupyter messages the
// kernel exchanges with its interpreter: requests as a frontend sends them,
// replies as the kernel puts them on the wire. Both sides of the kernel's
// seam (package kernel, and the adapter in interp/jupyter) speak these
// types, so the shape of each reply is defined once, here, in Go.
//
// The package knows no socket and no interpreter. Each reply has a Check
// method that rejects a value that does not fit the messaging spec; the
// adapter runs it on whatever the guest sent before the kernel sees it.
package content

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Reply statuses.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusAborted = "aborted"
)

// Error is the content of an error message on iopub, and the error fields
// of a reply whose status is "error".
type Error struct {
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// NewError is an Error with an empty (not null) traceback.
func NewError(ename, evalue string) *Error {
	return &Error{Ename: ename, Evalue: evalue, Traceback: []string{}}
}

func (e *Error) check() error {
	if e == nil {
		return errors.New("status error without ename/evalue/traceback")
	}
	if e.Traceback == nil {
		e.Traceback = []string{}
	}
	return nil
}

// ExecuteRequest is the content of execute_request. The pointer fields are
// optional in the spec; use the methods for their defaults.
type ExecuteRequest struct {
	Code            string            `json:"code"`
	Silent          bool              `json:"silent"`
	StoreHistory    *bool             `json:"store_history,omitempty"`
	UserExpressions map[string]string `json:"user_expressions,omitempty"`
	AllowStdin      *bool             `json:"allow_stdin,omitempty"`
	StopOnError     *bool             `json:"stop_on_error,omitempty"`
}

// Stores reports whether the cell counts and is recorded: store_history
// (default: not silent), and never when silent.
func (r ExecuteRequest) Stores() bool { return orDefault(r.StoreHistory, !r.Silent) && !r.Silent }

// StdinAllowed is allow_stdin (default true).
func (r ExecuteRequest) StdinAllowed() bool { return orDefault(r.AllowStdin, true) }

// StopsOnError is stop_on_error (default true): a failure aborts the
// execute_requests queued behind it.
func (r ExecuteRequest) StopsOnError() bool { return orDefault(r.StopOnError, true) }

func orDefault(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// ExecuteReply is the content of execute_reply. Payload and
// UserExpressions are sent as [] and {} when empty, except in an aborted
// reply, which carries only its status and the execution count.
type ExecuteReply struct {
	Status          string                     `json:"status"`
	ExecutionCount  int                        `json:"execution_count"`
	Payload         []json.RawMessage          `json:"payload,omitzero"`
	UserExpressions map[string]json.RawMessage `json:"user_expressions,omitzero"`
	*Error
}

// Check rejects a reply that does not fit the spec and fills the empty
// collections an ok or error reply always carries.
func (r *ExecuteReply) Check() error {
	switch r.Status {
	case StatusOK:
		r.Error = nil
	case StatusError:
		if err := r.Error.check(); err != nil {
			return fmt.Errorf("execute_reply: %w", err)
		}
	case StatusAborted:
		r.Error, r.Payload, r.UserExpressions = nil, nil, nil
		return nil
	default:
		return fmt.Errorf("execute_reply: status %q", r.Status)
	}
	if r.Payload == nil {
		r.Payload = []json.RawMessage{}
	}
	for i, p := range r.Payload {
		if !isObject(p) {
			return fmt.Errorf("execute_reply: payload %d is not an object", i)
		}
	}
	if r.UserExpressions == nil {
		r.UserExpressions = map[string]json.RawMessage{}
	}
	for name, v := range r.UserExpressions {
		if !isObject(v) {
			return fmt.Errorf("execute_reply: user expression %q is not an object", name)
		}
	}
	return nil
}

// Aborted is the reply to an execute_request that was not run because a
// cell before it failed.
func Aborted(count int) ExecuteReply {
	return ExecuteReply{Status: StatusAborted, ExecutionCount: count}
}

// CompleteRequest is the content of complete_request. CursorPos counts
// Unicode code points, as the spec says.
type CompleteRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

// CompleteReply is the content of complete_reply.
type CompleteReply struct {
	Status      string                     `json:"status"`
	Matches     []string                   `json:"matches"`
	CursorStart int                        `json:"cursor_start"`
	CursorEnd   int                        `json:"cursor_end"`
	Metadata    map[string]json.RawMessage `json:"metadata"`
	*Error
}

// NoCompletions is the empty success a frontend expects while typing when
// nothing can be offered (the interpreter is gone).
func NoCompletions(cursor int) CompleteReply {
	return CompleteReply{Status: StatusOK, Matches: []string{}, CursorStart: cursor, CursorEnd: cursor, Metadata: map[string]json.RawMessage{}}
}

// Check rejects a reply that does not fit the request: the replaced range
// must lie within the code (0 <= start <= end <= its length in code points).
func (r *CompleteReply) Check(req CompleteRequest) error {
	switch r.Status {
	case StatusOK:
		r.Error = nil
	case StatusError:
		if err := r.Error.check(); err != nil {
			return fmt.Errorf("complete_reply: %w", err)
		}
	default:
		return fmt.Errorf("complete_reply: status %q", r.Status)
	}
	if n := utf8.RuneCountInString(req.Code); r.CursorStart < 0 || r.CursorStart > r.CursorEnd || r.CursorEnd > n {
		return fmt.Errorf("complete_reply: range %d..%d outside the code (%d code points)", r.CursorStart, r.CursorEnd, n)
	}
	if r.Matches == nil {
		r.Matches = []string{}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]json.RawMessage{}
	}
	return nil
}

// InspectRequest is the content of inspect_request.
type InspectRequest struct {
	Code        string `json:"code"`
	CursorPos   int    `json:"cursor_pos"`
	DetailLevel int    `json:"detail_level"`
}

// InspectReply is the content of inspect_reply: a MIME bundle when found.
type InspectReply struct {
	Status   string                     `json:"status"`
	Found    bool                       `json:"found"`
	Data     map[string]json.RawMessage `json:"data"`
	Metadata map[string]json.RawMessage `json:"metadata"`
	*Error
}

// NotFound is the reply when nothing can be said about the code.
func NotFound() InspectReply {
	return InspectReply{Status: StatusOK, Data: map[string]json.RawMessage{}, Metadata: map[string]json.RawMessage{}}
}

// Check rejects a reply that does not fit the spec: a found reply has data.
func (r *InspectReply) Check() error {
	switch r.Status {
	case StatusOK:
		r.Error = nil
	case StatusError:
		if err := r.Error.check(); err != nil {
			return fmt.Errorf("inspect_reply: %w", err)
		}
	default:
		return fmt.Errorf("inspect_reply: status %q", r.Status)
	}
	if r.Found && len(r.Data) == 0 {
		return errors.New("inspect_reply: found without data")
	}
	if r.Data == nil {
		r.Data = map[string]json.RawMessage{}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]json.RawMessage{}
	}
	return nil
}

// IsCompleteRequest is the content of is_complete_request.
type IsCompleteRequest struct {
	Code string `json:"code"`
}

// IsCompleteReply is the content of is_complete_reply. Indent is sent
// only with "incomplete".
type IsCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent,omitempty"`
}

// MarshalJSON writes indent with "incomplete" even when it is empty, as
// ipykernel does (a console reads it to indent the next line), and never
// with another status.
func (r IsCompleteReply) MarshalJSON() ([]byte, error) {
	type wire struct {
		Status string  `json:"status"`
		Indent *string `json:"indent,omitempty"`
	}
	w := wire{Status: r.Status}
	if r.Status == "incomplete" {
		w.Indent = &r.Indent
	}
	return json.Marshal(w)
}

// Unknown is the is_complete_reply when the interpreter cannot tell.
func Unknown() IsCompleteReply { return IsCompleteReply{Status: "unknown"} }

// maxIndent bounds the indent a guest may suggest: a frontend inserts it
// as typed text.
const maxIndent = 256

// Check rejects a status outside the spec's four, and an indent that is
// not blanks or is long.
func (r *IsCompleteReply) Check() error {
	switch r.Status {
	case "complete", "invalid", "unknown":
		r.Indent = ""
		return nil
	case "incomplete":
		if len(r.Indent) > maxIndent {
			return fmt.Errorf("is_complete_reply: indent of %d bytes", len(r.Indent))
		}
		for _, c := range r.Indent {
			if c != ' ' && c != '\t' {
				return fmt.Errorf("is_complete_reply: indent %q is not blanks", r.Indent)
			}
		}
		return nil
	}
	return fmt.Errorf("is_complete_reply: status %q", r.Status)
}

// CommInfoRequest is the content of comm_info_request.
type CommInfoRequest struct {
	TargetName string `json:"target_name,omitempty"`
}

// CommTarget is one entry of comm_info_reply's comms.
type CommTarget struct {
	TargetName string `json:"target_name"`
}

// CommInfoReply is the content of comm_info_reply.
type CommInfoReply struct {
	Status string                `json:"status"`
	Comms  map[string]CommTarget `json:"comms"`
}

// CommOpen is the content of comm_open, either way.
type CommOpen struct {
	CommID       string          `json:"comm_id"`
	TargetName   string          `json:"target_name"`
	TargetModule string          `json:"target_module,omitempty"`
	Data         json.RawMessage `json:"data"`
}

// CommMsg is the content of comm_msg, either way.
type CommMsg struct {
	CommID string          `json:"comm_id"`
	Data   json.RawMessage `json:"data"`
}

// CommClose is the content of comm_close, either way.
type CommClose struct {
	CommID string          `json:"comm_id"`
	Data   json.RawMessage `json:"data"`
}

// Check rejects a comm_open without an id or target, or whose data is not
// an object; missing data becomes {}.
func (c *CommOpen) Check() error {
	if c.CommID == "" || c.TargetName == "" {
		return errors.New("comm_open without comm_id or target_name")
	}
	return checkData(&c.Data)
}

// Check rejects a comm_msg without an id or whose data is not an object.
func (c *CommMsg) Check() error {
	if c.CommID == "" {
		return errors.New("comm_msg without comm_id")
	}
	return checkData(&c.Data)
}

// Check rejects a comm_close without an id or whose data is not an object.
func (c *CommClose) Check() error {
	if c.CommID == "" {
		return errors.New("comm_close without comm_id")
	}
	return checkData(&c.Data)
}

func checkData(d *json.RawMessage) error {
	if len(*d) == 0 || string(*d) == "null" {
		*d = json.RawMessage(`{}`)
		return nil
	}
	if !isObject(*d) {
		return errors.New("comm data is not an object")
	}
	return nil
}

// Stream is the content of a stream message.
type Stream struct {
	Name string `json:"name"` // "stdout" or "stderr"
	Text string `json:"text"`
}

// ExecuteInput is the content of execute_input.
type ExecuteInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

// Status is the content of a status message.
type Status struct {
	ExecutionState string `json:"execution_state"` // starting, busy, idle
}

// LanguageInfo is kernel_info_reply's language_info.
type LanguageInfo struct {
	Name              string          `json:"name"`
	Version           string          `json:"version"`
	Mimetype          string          `json:"mimetype"`
	FileExtension     string          `json:"file_extension"`
	PygmentsLexer     string          `json:"pygments_lexer,omitempty"`
	CodemirrorMode    json.RawMessage `json:"codemirror_mode,omitempty"`
	NbconvertExporter string          `json:"nbconvert_exporter,omitempty"`
}

// HelpLink is one of kernel_info_reply's help_links.
type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// KernelInfoReply is the content of kernel_info_reply. The interpreter
// fills the language's part; the kernel adds the status and its own
// names and versions.
type KernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          LanguageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	HelpLinks             []HelpLink   `json:"help_links"`
	Debugger              bool         `json:"debugger"`
}

// InputRequest is the content of input_request on stdin.
type InputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

// InputReply is the content of input_reply.
type InputReply struct {
	Value string `json:"value"`
}

// ShutdownRequest is the content of shutdown_request; the reply has the
// same fields and a status.
type ShutdownRequest struct {
	Restart bool `json:"restart"`
}

// ShutdownReply is the content of shutdown_reply.
type ShutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

// StatusReply is a reply that carries only its status (interrupt_reply).
type StatusReply struct {
	Status string `json:"status"`
}

// ErrorReply is a reply with status "error", for a request the kernel
// could not decode.
type ErrorReply struct {
	Status string `json:"status"`
	*Error
}

// BadRequest is the ErrorReply for a request whose content did not decode.
func BadRequest(err error) ErrorReply {
	return ErrorReply{Status: StatusError, Error: NewError("BadRequest", err.Error())}
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil // null decodes to a nil map
}

// DebugRequest is the content of debug_request: a Debug Adapter Protocol
// request of the frontend's debugger. Arguments are the command's own and
// travel untouched to the interpreter.
type DebugRequest struct {
	Type      string          `json:"type"`
	Seq       int64           `json:"seq"`
	Command   string          `json:"command"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// maxDebugCommand bounds the length of a DAP command name.
const maxDebugCommand = 64

// Check rejects a request that is not a DAP request with a command.
func (r *DebugRequest) Check() error {
	if r.Type != "request" {
		return fmt.Errorf("debug_request: type %q, not \"request\"", r.Type)
	}
	if r.Command == "" || len(r.Command) > maxDebugCommand {
		return errors.New("debug_request: no command, or an overlong one")
	}
	if len(r.Arguments) > 0 && !isObject(r.Arguments) && string(r.Arguments) != "null" {
		return errors.New("debug_request: arguments is not an object")
	}
	return nil
}

// DebugReply is the content of debug_reply: the DAP response, as the
// interpreter's debugger shaped it (its body is the command's own).
type DebugReply json.RawMessage

// MarshalJSON implements json.Marshaler.
func (r DebugReply) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("{}"), nil
	}
	return r, nil
}

// Check rejects a reply that is not a DAP response object.
func (r DebugReply) Check() error {
	var head struct {
		Type    string `json:"type"`
		Command any    `json:"command"`
		Success *bool  `json:"success"`
	}
	if !isObject(json.RawMessage(r)) || json.Unmarshal(r, &head) != nil {
		return errors.New("debug_reply: not a JSON object")
	}
	if head.Type != "response" || head.Success == nil {
		return fmt.Errorf("debug_reply: type %q, success %v: not a DAP response", head.Type, head.Success)
	}
	return nil
}

// DebugFailure is the DAP response that says a request failed, for when
// the interpreter could not answer it.
func DebugFailure(req DebugRequest, message string) DebugReply {
	b, _ := json.Marshal(map[string]any{
		"type": "response", "seq": 0, "request_seq": req.Seq, "command": req.Command,
		"success": false, "message": message, "body": map[string]any{},
	})
	return b
}

// DebugEvent is the content of debug_event on iopub: a DAP event of the
// interpreter's debugger.
type DebugEvent json.RawMessage

// MarshalJSON implements json.Marshaler.
func (e DebugEvent) MarshalJSON() ([]byte, error) {
	if len(e) == 0 {
		return []byte("{}"), nil
	}
	return e, nil
}

// Check rejects an event that is not a DAP event with a name.
func (e DebugEvent) Check() error {
	var head struct {
		Type  string `json:"type"`
		Event string `json:"event"`
	}
	if !isObject(json.RawMessage(e)) || json.Unmarshal(e, &head) != nil {
		return errors.New("debug_event: not a JSON object")
	}
	if head.Type != "event" || head.Event == "" || len(head.Event) > maxDebugCommand {
		return fmt.Errorf("debug_event: type %q, event %q: not a DAP event", head.Type, head.Event)
	}
	return nil
}
