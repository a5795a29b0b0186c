package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Version is the messaging protocol version the package speaks.
const Version = "5.3"

// Delimiter separates routing identities from the signed parts of a message.
const Delimiter = "<IDS|MSG>"

// DateFormat is the layout of [Header.Date]: RFC 3339 with microseconds, UTC.
const DateFormat = "2006-01-02T15:04:05.000000Z07:00"

// Header is a message header, and the parent header of a reply.
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"` // RFC3339 with microseconds, UTC
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// IsZero reports whether h is the empty header (the parent header of an
// unsolicited message).
func (h Header) IsZero() bool { return h == Header{} }

// MarshalJSON encodes a zero Header as {}, any other as an object with all
// six fields.
func (h Header) MarshalJSON() ([]byte, error) {
	if h.IsZero() {
		return []byte("{}"), nil
	}
	type plain Header
	return json.Marshal(plain(h))
}

// Message is one Jupyter message with its routing identities and binary
// buffers.
type Message struct {
	// Identities are the routing frames before the delimiter. On shell,
	// control and stdin they route a reply back to its client; on iopub
	// the Server replaces them with a topic (see [IOPubTopic]).
	Identities   [][]byte
	Header       Header
	ParentHeader Header
	Metadata     map[string]any
	Content      json.RawMessage // always a JSON object on the wire ({} if empty)
	Buffers      [][]byte
}

// NewMessage builds a message with a fresh uuid msg_id, the current date,
// [Version], msgType, and content marshaled from content (a struct, a map,
// a json.RawMessage or nil for {}). When parent != nil, ParentHeader is
// parent.Header, Session and Username are copied from the parent header,
// and Identities are copied from parent so that replies route back;
// session is used when parent is nil.
func NewMessage(parent *Message, session, msgType string, content any) (*Message, error) {
	if msgType == "" {
		return nil, fmt.Errorf("protocol: NewMessage: empty msg_type")
	}
	raw, err := marshalContent(content)
	if err != nil {
		return nil, fmt.Errorf("protocol: NewMessage %s: %w", msgType, err)
	}
	m := &Message{
		Header: Header{
			MsgID:    newMsgID(),
			Session:  session,
			Username: "kernel",
			Date:     time.Now().UTC().Format(DateFormat),
			MsgType:  msgType,
			Version:  Version,
		},
		Metadata: map[string]any{},
		Content:  raw,
	}
	if parent != nil {
		m.ParentHeader = parent.Header
		m.Header.Session = parent.Header.Session
		m.Header.Username = parent.Header.Username
		if len(parent.Identities) > 0 {
			m.Identities = make([][]byte, len(parent.Identities))
			for i, id := range parent.Identities {
				m.Identities[i] = append([]byte(nil), id...)
			}
		}
	}
	return m, nil
}

// newMsgID returns a random (version 4) UUID in its usual text form, as
// jupyter_client's msg_ids are. It is made here rather than with
// github.com/google/uuid because that package imports net (for version 1
// node ids), and the codec has no business linking the network stack.
func newMsgID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (it crashes the program instead)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// marshalContent turns content into a JSON object.
func marshalContent(content any) (json.RawMessage, error) {
	var raw []byte
	switch c := content.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		raw = c
	case []byte:
		raw = c
	default:
		b, err := json.Marshal(content)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if len(raw) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !isJSONObject(raw) {
		return nil, fmt.Errorf("content is not a JSON object")
	}
	return append(json.RawMessage(nil), raw...), nil
}

// DecodeContent unmarshals Content into v.
func (m *Message) DecodeContent(v any) error {
	c := m.Content
	if len(c) == 0 {
		c = json.RawMessage("{}")
	}
	if err := json.Unmarshal(c, v); err != nil {
		return fmt.Errorf("protocol: %s content: %w", m.Header.MsgType, err)
	}
	return nil
}

// IOPubTopic is the first frame the Server puts on an iopub message:
// "kernel.<session>.<msg_type>", the shape ipykernel uses. Clients
// subscribe to every topic, so it only has to be sensible.
func IOPubTopic(m *Message) []byte {
	return []byte("kernel." + m.Header.Session + "." + m.Header.MsgType)
}
