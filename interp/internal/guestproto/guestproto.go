// Package guestproto defines the protocol between the interpreter's host
// (the kernel process, through the worker) and the Python-side runtime in
// the guest: the kinds of message, the fields they carry, the frame codec
// and the protocol's version. The Python half
// (interp/runtime, the module that defines the same names) must agree with
// this file; testdata/messages.jsonl is the shared fixture both halves
// round-trip.
//
// A frame's payload is a JSON object (the head), optionally followed by a
// NUL byte and binary buffers whose lengths the head lists in
// buffer_lengths, so bytes (comm buffers, FFI bytes) cross without
// base64. On the channel each payload is preceded by its length (4 bytes,
// big-endian); that framing belongs to the channel, not to this package.
//
// The fixture testdata/messages.jsonl has one JSON object per line:
//
//	{"kind": "<a Kind>", "frame": {<the JSON head as written on the channel>}, "buffers_b64": ["<base64>", ...]}
//
// frame's "type" equals kind, and when buffers_b64 is not empty frame lists
// their lengths in "buffer_lengths". Every Kind has at least one line, and
// every Method at least one host_request line.
package guestproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Version is the protocol's version (PROTOCOL_VERSION on the Python side).
// The guest sends it in its hello; the host refuses a guest that speaks
// another one. Bump it for any change that an old peer would misread.
const Version = 1

// Kind is the "type" of a message.
type Kind string

// Host → guest requests, each answered by one Reply with the same ID.
const (
	Execute    Kind = "execute"     // run a cell; events follow, then the reply
	IsComplete Kind = "is_complete" // is this code a complete statement?
	Complete   Kind = "complete"    // completions at a cursor position
	Inspect    Kind = "inspect"     // help text for the name at a cursor
	PyEval     Kind = "py_eval"     // Go evaluates a Python expression (FFI)
	PyCall     Kind = "py_call"     // Go calls a method of a Python object it holds (FFI)
	FFIModules Kind = "ffi_modules" // the Go modules the guest can import (at start, and RegisterModule)
	// PyAwait runs code with top-level await (PyAwaitRequest), or awaits
	// a Python awaitable Go holds, as a task of the session's loop. Its
	// Reply (a PyResult) comes when the task ends, so other requests may
	// be answered first.
	PyAwait Kind = "py_await"
	// DebugRequest carries a Debug Adapter Protocol request of the
	// frontend's debugger. Unlike the others it may arrive while a cell
	// runs: a guest stopped at a breakpoint serves it from its wait.
	DebugRequest Kind = "debug_request"
)

// Comm messages travel both ways: the frontend's reach the guest as
// requests (answered by a Reply), the guest's reach the host as events.
const (
	CommOpen  Kind = "comm_open"
	CommMsg   Kind = "comm_msg"
	CommClose Kind = "comm_close"
	// CommInfo asks which comms the guest's CommManager holds (the one
	// record of Python's comms): {target_name} in, {comms: {id: {target_name}}} out.
	CommInfo Kind = "comm_info"
)

// Host → guest messages that are not requests: nothing answers them.
const (
	HostReply Kind = "host_reply" // answers a HostRequest with the same RID
	Interrupt Kind = "interrupt"  // in band: stop waiting on the channel with KeyboardInterrupt
	PyRelease Kind = "py_release" // Go let go of the handle on a Python object (ID)
	PyCancel  Kind = "py_cancel"  // Go stopped waiting for the PyAwait request ID: cancel its task
)

// Guest → host messages.
const (
	Hello       Kind = "hello"        // once, at start: HelloContent
	Reply       Kind = "reply"        // answers the host's request with the same ID
	HostRequest Kind = "host_request" // the guest asks the host (Method), answered by HostReply
	// GoRelease says that Python collected proxies of Go values: the
	// handles listed in GoReleaseContent.IDs. Nothing answers it.
	GoRelease Kind = "go_release"
)

// Guest → host events: output of the running request, or (with ParentID)
// of an earlier one whose asyncio task still runs.
const (
	Stream            Kind = "stream" // {name, text}: output of a background task
	ExecuteResult     Kind = "execute_result"
	DisplayData       Kind = "display_data"
	UpdateDisplayData Kind = "update_display_data"
	ClearOutput       Kind = "clear_output"
	Error             Kind = "error" // an exception a cell raised
	// DebugEvent is a Debug Adapter Protocol event of the guest's
	// debugger (stopped, continued, output, ...), for iopub's debug_event.
	DebugEvent Kind = "debug_event"
)

// Method names what a HostRequest asks of the host.
type Method string

const (
	Input        Method = "input"          // input() and getpass: {prompt, password}
	FFICall      Method = "ffi.call"       // call a function of a Go module: FFIRequest
	FFIProxyCall Method = "ffi.proxy_call" // call a Go value Python holds a handle on: FFIRequest
	FFIRelease   Method = "ffi.release"    // Python let go of the handle on a Go value: FFIRequest.ID
	FFIProxyOp   Method = "ffi.proxy_op"   // attribute, item, len, iter, to_py of a Go value: FFIRequest.Op
	StdinRead    Method = "stdin.read"     // sys.stdin wants up to FFIRequest.N bytes of the embedder's reader
)

// FromHostOnly reports whether only the host may send messages of kind k.
// A guest that sends one (cell code can write the channel) is ignored.
func FromHostOnly(k Kind) bool {
	switch k {
	case Execute, IsComplete, Complete, Inspect, CommInfo, PyEval, PyCall, PyAwait, FFIModules, DebugRequest, HostReply, Interrupt, PyRelease, PyCancel:
		return true
	}
	return false
}

// IsFFIMethod reports whether a host request is served by the FFI (the
// Go modules, Go values, the embedder's stdin) rather than by the
// embedder's handler.
func IsFFIMethod(m Method) bool {
	switch m {
	case FFICall, FFIProxyCall, FFIRelease, FFIProxyOp, StdinRead:
		return true
	}
	return false
}

// Message is one message of either direction. Which fields are set
// depends on Type; the field comments say for which kinds.
type Message struct {
	Type Kind `json:"type"`
	// ID pairs a host's request with its Reply; for PyRelease it names
	// the Python object let go of.
	ID int64 `json:"id,omitempty"`
	// RID pairs a HostRequest with its HostReply (the guest numbers them).
	RID int64 `json:"rid,omitempty"`
	// Method is what a HostRequest asks for.
	Method Method `json:"method,omitempty"`
	// ParentID (events only) names the request an event belongs to when
	// it is not the running one: output of an asyncio task that an
	// earlier cell started. It is the parent_id the host gave in that
	// request's content.
	ParentID string          `json:"parent_id,omitempty"`
	Content  json.RawMessage `json:"content,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Error is a failed HostReply.
	Error *HostError `json:"error,omitempty"`
	// BufferLengths is written by Encode from Buffers and checked by
	// Decode against the bytes after the NUL.
	BufferLengths []int `json:"buffer_lengths,omitempty"`
	// Buffers are the binary buffers after the head.
	Buffers [][]byte `json:"-"`
}

// HostError is how a failed host request is reported to the guest, which
// raises it as an exception of that type (HostError unless a Python
// builtin exception such as PermissionError is named).
type HostError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Object, when set, is the guest's handle on a Python exception that
	// passed through Go: the guest raises that very object again.
	Object int64 `json:"object,omitempty"`
	// Cause is the error this one wraps (Go's %w), raised as __cause__.
	Cause *HostError `json:"cause,omitempty"`
}

// HelloContent is the content of Hello: the protocol the guest speaks and
// what the interpreter is (the host passes the rest on as it is).
type HelloContent struct {
	Protocol *int `json:"protocol"`
}

// FFIRequest is the content of the FFI host requests.
type FFIRequest struct {
	Module string `json:"module,omitempty"` // ffi.call
	Func   string `json:"func,omitempty"`   // ffi.call
	ID     int64  `json:"id,omitempty"`     // ffi.proxy_call, ffi.release: the Go handle
	Count  int64  `json:"count,omitempty"`  // ffi.release: times Python received it (0: once)
	// Blocking (ffi.call, ffi.proxy_call): Python waits for the call with
	// its event loop stopped, so nothing awaited can run until it returns.
	Blocking bool            `json:"blocking,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	Kwargs   json.RawMessage `json:"kwargs,omitempty"`
	// ffi.proxy_op: Op is getattr, setattr, getitem, setitem, delitem,
	// len, iter, dir or to_py; Name an attribute; Key an item's key and
	// Value the value set (both encoded values).
	Op    string          `json:"op,omitempty"`
	Name  string          `json:"name,omitempty"`
	Key   json.RawMessage `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	// N is how many bytes stdin.read asks for (at most), or how many
	// levels deep to_py copies (-1 or 0: all).
	N int `json:"n,omitempty"`
}

// PyAwaitRequest is the content of PyAwait: Code (statements, with
// top-level await; the value of the last expression is the result) or
// the handle ID of an awaitable. UserNS runs Code in the session's
// namespace instead of a fresh one with Args bound to `args`.
type PyAwaitRequest struct {
	Code   string          `json:"code,omitempty"`
	ID     int64           `json:"id,omitempty"`
	UserNS bool            `json:"user_ns,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
}

// GoReleaseContent is the content of GoRelease.
type GoReleaseContent struct {
	IDs []int64 `json:"ids"`
	// Counts, beside IDs, say how many times Python received each handle
	// (the host sends the same value's handle again while Python holds
	// it); absent, once each.
	Counts []int64 `json:"counts,omitempty"`
}

// ModuleList is the content of FFIModules.
type ModuleList struct {
	Modules []ModuleInfo `json:"modules"`
	// Stdin makes the guest's sys.stdin read the embedder's reader
	// (StdinRead requests).
	Stdin bool `json:"stdin,omitempty"`
}

// ModuleInfo names a Go module's functions, blocking and awaitable.
type ModuleInfo struct {
	Name  string   `json:"name"`
	Funcs []string `json:"funcs"`
	Async []string `json:"async"`
	// Errors are exception classes the module defines: name -> the
	// builtin exception it derives from ("" for HostError). A Go error
	// names one as "module.Name".
	Errors map[string]string `json:"errors,omitempty"`
}

// PyResult is the Reply content of PyEval and PyCall.
type PyResult struct {
	Status    string          `json:"status"` // "ok" or "error"
	Value     json.RawMessage `json:"value,omitempty"`
	Ename     string          `json:"ename,omitempty"`
	Evalue    string          `json:"evalue,omitempty"`
	Traceback []string        `json:"traceback,omitempty"`
	// Exc is a handle on the exception object ({"$py": id}).
	Exc json.RawMessage `json:"exc,omitempty"`
}

// MaxBuffer is the largest binary buffer a message carries, and MaxHead
// the room a frame has for its JSON head besides: MaxFrame, their sum, caps
// one frame on the channel both ways, so that a 256 MiB bytes object
// crosses in one message and the peer still knows, from the length prefix
// alone, the most it may be asked to hold.
const (
	MaxBuffer = 256 << 20
	MaxHead   = 1 << 20
	MaxFrame  = MaxBuffer + MaxHead
)

// TooLarge says whether a message encoded as parts (EncodeParts) of size
// bytes is more than one frame carries: over MaxFrame, or buffers that
// add up to more than MaxBuffer.
func TooLarge(parts [][]byte, size int) bool {
	return size > MaxFrame || size-len(parts[0]) > MaxBuffer
}

// MaxBuffers caps the binary buffers one message lists.
const MaxBuffers = 1 << 16

// Decode parses one payload. The payload is untrusted (cell code can write
// the channel): its head must be valid UTF-8 JSON (the runtime writes
// ASCII; invalid bytes would reach the frontend verbatim), have a type,
// and list buffers whose lengths add up to exactly the bytes after the
// NUL. Anything else is an error, and the caller drops the frame.
func Decode(payload []byte) (*Message, error) {
	head, rest := payload, []byte(nil)
	i := bytes.IndexByte(payload, 0)
	if i >= 0 {
		head, rest = payload[:i], payload[i+1:]
	}
	if !utf8.Valid(head) {
		return nil, errors.New("guest message is not valid UTF-8")
	}
	var m Message
	if err := json.Unmarshal(head, &m); err != nil {
		return nil, err
	}
	if m.Type == "" {
		return nil, errors.New("guest message has no type")
	}
	if len(m.BufferLengths) > MaxBuffers {
		return nil, fmt.Errorf("guest message lists %d buffers, over the limit of %d", len(m.BufferLengths), MaxBuffers)
	}
	if i < 0 && len(m.BufferLengths) > 0 {
		return nil, errors.New("guest message lists buffers but carries none")
	}
	if len(m.BufferLengths) > 0 {
		m.Buffers = make([][]byte, 0, len(m.BufferLengths))
	}
	for _, n := range m.BufferLengths {
		if n < 0 || n > len(rest) {
			return nil, errors.New("guest message buffers are shorter than announced")
		}
		m.Buffers = append(m.Buffers, rest[:n:n])
		rest = rest[n:]
	}
	if len(rest) > 0 {
		return nil, errors.New("guest message buffers are longer than announced")
	}
	return &m, nil
}

// Encode writes one payload: the head, then, if there are buffers, a NUL
// and the buffers. It sets m.BufferLengths from m.Buffers.
func Encode(m *Message) ([]byte, error) {
	parts, size, err := EncodeParts(m)
	if err != nil || len(parts) == 1 {
		return parts[0], err
	}
	out := make([]byte, 0, size)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// EncodeParts is Encode without joining: the head (with the NUL when
// buffers follow), then m.Buffers themselves, and the payload's size.
// Writing the parts one after the other writes Encode's payload, without
// copying a large buffer into it first.
func EncodeParts(m *Message) (parts [][]byte, size int, err error) {
	m.BufferLengths = nil
	for _, b := range m.Buffers {
		m.BufferLengths = append(m.BufferLengths, len(b))
		size += len(b)
	}
	head, err := json.Marshal(m)
	if err != nil {
		return [][]byte{nil}, 0, err
	}
	if len(m.Buffers) == 0 {
		return [][]byte{head}, len(head), nil
	}
	parts = make([][]byte, 0, 1+len(m.Buffers))
	parts = append(parts, append(head, 0))
	parts = append(parts, m.Buffers...)
	return parts, size + len(head) + 1, nil
}

// CheckHello checks the protocol version a Hello's content announces
// against Version.
func CheckHello(content json.RawMessage) error {
	var h HelloContent
	if err := json.Unmarshal(content, &h); err != nil {
		return fmt.Errorf("interpreter hello: %w", err)
	}
	// A runtime from before the version was sent speaks version 1: until
	// every runtime sends it, a missing field means 1.
	got := 1
	if h.Protocol != nil {
		got = *h.Protocol
	}
	if got != Version {
		return fmt.Errorf("the interpreter's runtime speaks guest protocol version %d, the host speaks version %d: they must come from the same build", got, Version)
	}
	return nil
}
