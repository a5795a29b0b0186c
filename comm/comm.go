// Package comm routes Jupyter comms (comm_open / comm_msg / comm_close,
// the channels between frontend and kernel code that widgets use) and lets
// Go code hold comms of its own.
//
// One owner for each comm: comms that the interpreter's code opens, or that
// the frontend opens to a target registered in the interpreter, live in the
// interpreter (its CommManager is their record); comms opened from Go, or
// to a target registered here with RegisterTarget, live in a Manager. The
// kernel asks the Manager first (Route) and hands the interpreter what the
// Manager does not own, and it answers comm_info_request with both lists.
package comm

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// The comm message types.
const (
	Open  = "comm_open"
	Msg   = "comm_msg"
	Close = "comm_close"
)

// IsType reports whether msgType is a comm message type.
func IsType(msgType string) bool { return msgType == Open || msgType == Msg || msgType == Close }

// Message is one comm message, either way: its type, its content's fields,
// and the metadata and binary buffers around it.
type Message struct {
	Type         string // Open, Msg or Close
	CommID       string
	TargetName   string // Open only
	TargetModule string // Open only
	Data         json.RawMessage
	Metadata     map[string]any
	Buffers      [][]byte
	// Header is the frontend's message header, for a message from the
	// frontend (comm handlers may read it); zero for ours.
	Header protocol.Header
}

// Decode checks the content of a comm message of type msgType (from the
// frontend or the interpreter) and returns it as a Message.
func Decode(msgType string, raw json.RawMessage) (Message, error) {
	m := Message{Type: msgType}
	switch msgType {
	case Open:
		var c content.CommOpen
		if err := json.Unmarshal(raw, &c); err != nil {
			return Message{}, fmt.Errorf("%s: %w", msgType, err)
		}
		if err := c.Check(); err != nil {
			return Message{}, err
		}
		m.CommID, m.TargetName, m.TargetModule, m.Data = c.CommID, c.TargetName, c.TargetModule, c.Data
	case Msg:
		var c content.CommMsg
		if err := json.Unmarshal(raw, &c); err != nil {
			return Message{}, fmt.Errorf("%s: %w", msgType, err)
		}
		if err := c.Check(); err != nil {
			return Message{}, err
		}
		m.CommID, m.Data = c.CommID, c.Data
	case Close:
		var c content.CommClose
		if err := json.Unmarshal(raw, &c); err != nil {
			return Message{}, fmt.Errorf("%s: %w", msgType, err)
		}
		if err := c.Check(); err != nil {
			return Message{}, err
		}
		m.CommID, m.Data = c.CommID, c.Data
	default:
		return Message{}, fmt.Errorf("%q is not a comm message", msgType)
	}
	return m, nil
}

// Content is the message's content as it goes on the wire.
func (m Message) Content() any {
	switch m.Type {
	case Open:
		return content.CommOpen{CommID: m.CommID, TargetName: m.TargetName, TargetModule: m.TargetModule, Data: m.data()}
	case Close:
		return content.CommClose{CommID: m.CommID, Data: m.data()}
	}
	return content.CommMsg{CommID: m.CommID, Data: m.data()}
}

func (m Message) data() json.RawMessage {
	if len(m.Data) == 0 {
		return json.RawMessage(`{}`)
	}
	return m.Data
}

// Sender puts comm messages on the wire to the frontend (the kernel
// publishes them on iopub, under the cell that runs now).
type Sender interface {
	SendComm(Message) error
}

// TargetFunc serves a comm that the frontend opened to a Go target. open
// is the frontend's comm_open.
type TargetFunc func(c *Comm, open Message)

// Manager holds the comms and targets of Go code. Make one with
// NewManager; it is safe for concurrent use.
type Manager struct {
	out     Sender
	mu      sync.Mutex
	targets map[string]TargetFunc
	comms   map[string]*Comm
}

// NewManager makes a Manager that sends through out.
func NewManager(out Sender) *Manager {
	return &Manager{out: out, targets: map[string]TargetFunc{}, comms: map[string]*Comm{}}
}

// ErrClosed is returned when a message is sent on a closed comm.
var ErrClosed = errors.New("comm: closed")

// Comm is one comm held by Go code.
type Comm struct {
	ID         string
	TargetName string
	m          *Manager
	mu         sync.Mutex
	closed     bool
	onMsg      func(Message)
	onClose    func(Message)
}

// RegisterTarget serves the frontend's comm_open to target name with f.
// A target registered here is served by Go even if the interpreter's code
// registers the same name.
func (m *Manager) RegisterTarget(name string, f TargetFunc) {
	m.mu.Lock()
	m.targets[name] = f
	m.mu.Unlock()
}

// UnregisterTarget stops serving target name.
func (m *Manager) UnregisterTarget(name string) {
	m.mu.Lock()
	delete(m.targets, name)
	m.mu.Unlock()
}

// Open opens a comm with the frontend to its target target: data
// (marshaled to a JSON object) and buffers travel with the comm_open.
func (m *Manager) Open(target string, data any, metadata map[string]any, buffers [][]byte) (*Comm, error) {
	raw, err := marshalData(data)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, errors.New("comm: Open needs a target name")
	}
	c := &Comm{ID: uuid.NewString(), TargetName: target, m: m}
	m.mu.Lock()
	m.comms[c.ID] = c
	m.mu.Unlock()
	if err := m.out.SendComm(Message{Type: Open, CommID: c.ID, TargetName: target, Data: raw, Metadata: metadata, Buffers: buffers}); err != nil {
		m.forget(c.ID)
		return nil, err
	}
	return c, nil
}

// OnMsg sets the function that receives the frontend's comm_msg.
func (c *Comm) OnMsg(f func(Message)) {
	c.mu.Lock()
	c.onMsg = f
	c.mu.Unlock()
}

// OnClose sets the function called when the frontend closes the comm.
func (c *Comm) OnClose(f func(Message)) {
	c.mu.Lock()
	c.onClose = f
	c.mu.Unlock()
}

// Send sends a comm_msg: data (marshaled to a JSON object) and buffers.
func (c *Comm) Send(data any, metadata map[string]any, buffers [][]byte) error {
	raw, err := marshalData(data)
	if err != nil {
		return err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return c.m.out.SendComm(Message{Type: Msg, CommID: c.ID, Data: raw, Metadata: metadata, Buffers: buffers})
}

// Close closes the comm from our side and tells the frontend; a second
// Close does nothing.
func (c *Comm) Close(data any) error {
	raw, err := marshalData(data)
	if err != nil {
		return err
	}
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return nil
	}
	c.m.forget(c.ID)
	return c.m.out.SendComm(Message{Type: Close, CommID: c.ID, Data: raw})
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.comms, id)
	m.mu.Unlock()
}

// Route serves a comm message from the frontend if Go owns it: a comm_open
// to a target registered here, a comm_msg or comm_close of a comm held
// here. It reports whether it did; the kernel hands the rest to the
// interpreter.
func (m *Manager) Route(msg Message) bool {
	m.mu.Lock()
	var target TargetFunc
	var c *Comm
	switch msg.Type {
	case Open:
		target = m.targets[msg.TargetName]
		if target != nil {
			c = &Comm{ID: msg.CommID, TargetName: msg.TargetName, m: m}
			m.comms[c.ID] = c
		}
	case Msg, Close:
		c = m.comms[msg.CommID]
		if c != nil && msg.Type == Close {
			delete(m.comms, msg.CommID)
		}
	}
	m.mu.Unlock()
	if c == nil {
		return false
	}
	switch msg.Type {
	case Open:
		target(c, msg)
	case Msg:
		c.mu.Lock()
		f := c.onMsg
		c.mu.Unlock()
		if f != nil {
			f(msg)
		}
	case Close:
		c.mu.Lock()
		c.closed = true
		f := c.onClose
		c.mu.Unlock()
		if f != nil {
			f(msg)
		}
	}
	return true
}

// Info lists the comms held here, of target targetName or all when it is
// empty, as comm_info_reply lists them.
func (m *Manager) Info(targetName string) map[string]content.CommTarget {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]content.CommTarget{}
	for id, c := range m.comms {
		if targetName == "" || c.TargetName == targetName {
			out[id] = content.CommTarget{TargetName: c.TargetName}
		}
	}
	return out
}

// marshalData encodes a comm's data, which the spec makes a JSON object
// (nil is {}).
func marshalData(data any) (json.RawMessage, error) {
	if data == nil {
		return json.RawMessage(`{}`), nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("comm: data: %w", err)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, errors.New("comm: data must be a JSON object")
	}
	return raw, nil
}

// Reset forgets every comm held here, as the frontend does when the
// kernel restarts: each is closed (Send then fails with ErrClosed) and its
// OnClose function is called with a comm_close that has no data. Targets
// stay registered: they belong to the kernel, not to the session.
func (m *Manager) Reset() {
	m.mu.Lock()
	comms := m.comms
	m.comms = map[string]*Comm{}
	m.mu.Unlock()
	for id, c := range comms {
		c.mu.Lock()
		already := c.closed
		c.closed = true
		f := c.onClose
		c.mu.Unlock()
		if f != nil && !already {
			f(Message{Type: Close, CommID: id, Data: json.RawMessage(`{}`), Metadata: map[string]any{}})
		}
	}
}
