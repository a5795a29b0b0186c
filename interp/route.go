package interp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/interp/internal/pipe"
)

// route routes one frame the guest wrote on the channel. It runs on
// readLoop, which also carries the guest's output and the news of its
// exit, so nothing here may block: cell code can write any frame the
// runtime could (open /.wasipy/host/channel), as many as it likes. Frames
// that are malformed, or that answer no request of the host's, are dropped
// and logged.
func (p *Process) route(payload []byte, hello chan<- json.RawMessage) {
	m, err := guestproto.Decode(payload)
	if err != nil {
		p.log.drop("malformed frame", "err", err, "bytes", len(payload))
		return
	}
	if guestproto.FromHostOnly(m.Type) {
		// The guest has no business sending these.
		p.log.drop("message of a host-only kind", "type", m.Type)
		return
	}
	switch m.Type {
	case guestproto.Hello:
		// Once, at start.
		select {
		case hello <- m.Content:
		default:
			p.log.drop("second hello")
		}
	case guestproto.Reply:
		// A reply answers the waiting call with its id, once: the call
		// leaves calls here, so a duplicate finds nothing.
		p.mu.Lock()
		c := p.calls[m.ID]
		delete(p.calls, m.ID)
		p.mu.Unlock()
		if c == nil {
			p.strayReply(m)
			return
		}
		c.reply <- m // buffered; this is its only send
	case guestproto.HostRequest:
		p.hostRequest(m)
	case guestproto.GoRelease:
		// Python collected proxies of these Go values. Cell code can send
		// any ids; releasing handles it holds is all it can do with them.
		var c guestproto.GoReleaseContent
		if err := json.Unmarshal(m.Content, &c); err != nil {
			p.log.drop("malformed go_release", "err", err)
			return
		}
		for i, id := range c.IDs {
			count := int64(1) // a runtime that sends no counts received each once
			if i < len(c.Counts) {
				count = c.Counts[i]
			}
			p.handles.release(id, count)
		}
	default:
		p.deliver(Event{Type: string(m.Type), Content: m.Content, ParentID: m.ParentID, Buffers: m.Buffers, Metadata: m.Metadata})
	}
}

// hostRequest admits one host_request of the guest, within
// maxHostRequests, and serves it on a goroutine of its own.
func (p *Process) hostRequest(m *guestproto.Message) {
	p.outMu.Lock()
	admit := p.hostBusy < maxHostRequests && p.outErr == nil
	refuse := !admit && p.refusals < maxRefusals && p.outErr == nil
	if admit {
		p.hostBusy++
	} else if refuse {
		p.refusals++
	}
	p.outMu.Unlock()
	switch {
	case admit:
		go p.serveHost(m)
	case refuse:
		p.log.drop("host request refused: too many in flight", "method", m.Method, "limit", maxHostRequests)
		reply := &guestproto.Message{Type: guestproto.HostReply, RID: m.RID, Error: &guestproto.HostError{Type: "HostError",
			Message: fmt.Sprintf("too many requests of the host in flight (at most %d)", maxHostRequests)}}
		payload, _ := guestproto.Encode(reply)
		_ = p.queue(pipe.Message, [][]byte{payload}, func() {
			p.outMu.Lock()
			p.refusals--
			p.outMu.Unlock()
		}, false)
	default:
		p.log.drop("host request dropped: too many in flight and refused", "method", m.Method)
	}
}

// serveHost answers one admitted host_request of the guest. Its slot is
// given back once the answer was written to the worker.
func (p *Process) serveHost(m *guestproto.Message) {
	release := func() {
		p.outMu.Lock()
		p.hostBusy--
		p.outMu.Unlock()
	}
	p.mu.Lock()
	h := p.host
	p.mu.Unlock()
	reply := &guestproto.Message{Type: guestproto.HostReply, RID: m.RID}
	if guestproto.IsFFIMethod(m.Method) {
		h = p.serveFFI
	}
	if h == nil {
		reply.Error = &guestproto.HostError{Type: "HostError", Message: "the host does not answer " + string(m.Method)}
	} else {
		result, buffers, err := h(p.hostCtx, string(m.Method), m.Content, m.Buffers)
		// A *PythonError's exception (a handle) must outlive the reply
		// that names it: Go's collector would release it.
		defer runtime.KeepAlive(err)
		if err != nil {
			reply.Error = errorForGuest(err)
		} else {
			if reply.Content, err = json.Marshal(result); err != nil {
				reply.Content, reply.Error = nil, errorForGuest(err)
			}
			reply.Buffers = buffers
		}
	}
	// Not joined: a large buffer Go returns is written as it is.
	parts, size, err := guestproto.EncodeParts(reply)
	if err == nil && guestproto.TooLarge(parts, size) {
		// The guest refuses a frame this large (and could not follow the
		// channel past it): say so instead.
		p.log.drop("host reply too large for the guest", "method", m.Method, "bytes", size)
		reply = &guestproto.Message{Type: guestproto.HostReply, RID: m.RID, Error: &guestproto.HostError{Type: "MemoryError",
			Message: fmt.Sprintf("the host's answer is %d bytes, over the channel's limit of %d", size, guestproto.MaxFrame)}}
		parts, _, err = guestproto.EncodeParts(reply)
	}
	if err != nil {
		release()
		return
	}
	_ = p.queue(pipe.Message, parts, release, false)
}

// GuestError is an error that reaches Python as an exception of the named
// class: a builtin exception (ValueError, KeyError, PermissionError,
// KeyboardInterrupt, EOFError...) or a class a Module declares in its
// Errors ("module.Name"). Any other error becomes HostError, except
// context.DeadlineExceeded, which becomes TimeoutError.
type GuestError struct {
	Type    string
	Message string
	// Cause, if set, is raised as the exception's __cause__.
	Cause error
}

// Error is the class name and message.
func (e *GuestError) Error() string { return e.Type + ": " + e.Message }

// Unwrap is the cause.
func (e *GuestError) Unwrap() error { return e.Cause }

// maxCauses caps the __cause__ chain sent for one error.
const maxCauses = 16

// errorForGuest is how Python sees an error of Go's. A *PythonError that
// holds its exception becomes that very exception; the class is chosen by
// a GuestError in the chain (or TimeoutError for a deadline); what the
// error wraps (%w) becomes __cause__.
func errorForGuest(err error) *guestproto.HostError {
	return hostError(err, 0)
}

func hostError(err error, depth int) *guestproto.HostError {
	if pe, ok := err.(*PythonError); ok && pe.Exception != nil {
		return &guestproto.HostError{Type: pe.Type, Message: pe.Message, Object: pe.Exception.id}
	}
	h := &guestproto.HostError{Type: "HostError", Message: err.Error()}
	var ge *GuestError
	switch {
	case errors.As(err, &ge):
		h.Type = ge.Type
		if ge == err {
			h.Message = ge.Message
		}
	case errors.Is(err, context.DeadlineExceeded):
		h.Type = "TimeoutError"
	}
	if depth < maxCauses {
		var inner error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			inner = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				inner = errs[0]
			}
		}
		if inner != nil {
			h.Cause = hostError(inner, depth+1)
		}
	}
	return h
}

func (p *Process) deliver(e Event) {
	p.mu.Lock()
	sink := p.background
	if p.current != nil && p.current.events != nil && e.ParentID == "" {
		sink = p.current.events
	}
	p.mu.Unlock()
	if sink != nil {
		sink(e)
	}
}

// strayReply handles a reply that answers no waiting call: if it answers
// a call whose caller gave up (a deadline), the handles on Python objects
// it carries are released, since no PyObject will ever own them; anything
// else is dropped and logged.
func (p *Process) strayReply(m *guestproto.Message) {
	p.mu.Lock()
	_, gaveUp := p.abandoned[m.ID]
	delete(p.abandoned, m.ID)
	p.mu.Unlock()
	if !gaveUp {
		p.log.drop("reply to no waiting request", "id", m.ID)
		return
	}
	var v any
	if json.Unmarshal(m.Content, &v) != nil {
		return
	}
	for _, id := range pyHandlesIn(v, 0) {
		p.releasePy(id)
	}
}

// pyHandlesIn lists the {"$py": id} handles in a decoded JSON value.
func pyHandlesIn(v any, depth int) []int64 {
	if depth > 512 {
		return nil
	}
	var out []int64
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, pyHandlesIn(e, depth+1)...)
		}
	case map[string]any:
		if n, ok := x["$py"].(float64); ok {
			out = append(out, int64(n))
		}
		for _, e := range x {
			out = append(out, pyHandlesIn(e, depth+1)...)
		}
	}
	return out
}
