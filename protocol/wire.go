package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
)

// Limits that [Decode] enforces. A message over any of them is rejected
// before its JSON is parsed.
const (
	MaxIdentities     = 16       // routing frames before the delimiter
	MaxIdentitySize   = 1 << 10  // bytes in one identity frame
	MaxSignatureSize  = 256      // hex-encoded HMAC (64 for sha256)
	MaxHeaderSize     = 64 << 10 // header and parent header, each
	MaxMetadataSize   = 16 << 20 // metadata frame
	MaxBuffers        = 1024     // binary buffers after the content
	MaxContentSize    = 1 << 30  // content frame
	MaxBufferSize     = 1 << 30  // one binary buffer
	minSignedFrameCnt = 5        // signature, header, parent, metadata, content

	// MaxFrames is the most frames a message [Decode] accepts can have:
	// identities, the delimiter, the five signed parts and the buffers. A
	// transport can drop a longer message as it reads it.
	MaxFrames = MaxIdentities + 1 + minSignedFrameCnt + MaxBuffers
)

// Errors returned by [Decode] and [Encode]. Errors about one part of a
// message are a *[PartError] wrapping one of these, so test with errors.Is.
var (
	ErrNoDelimiter       = errors.New("protocol: no <IDS|MSG> delimiter")
	ErrTooFewFrames      = errors.New("protocol: too few frames after the delimiter")
	ErrTooManyIdentities = errors.New("protocol: too many identity frames")
	ErrTooManyBuffers    = errors.New("protocol: too many buffers")
	ErrTooLarge          = errors.New("protocol: frame too large")
	ErrBadSignature      = errors.New("protocol: bad signature")
	ErrBadJSON           = errors.New("protocol: bad JSON")
	ErrBadField          = errors.New("protocol: missing or mistyped field")
)

// PartError tells which part of a message was rejected: "identity",
// "signature", "header", "parent_header", "metadata", "content" or
// "buffer".
type PartError struct {
	Part string
	Err  error
}

func (e *PartError) Error() string {
	return fmt.Sprintf("%s: %v", e.Part, e.Err)
}

func (e *PartError) Unwrap() error { return e.Err }

func partErr(part string, sentinel error, format string, args ...any) error {
	if format == "" {
		return &PartError{Part: part, Err: sentinel}
	}
	return &PartError{Part: part, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// Signer signs and verifies messages with HMAC-SHA256. A Signer built with
// an empty key, and a nil *Signer, sign nothing (the signature frame is
// empty) and verify nothing, as the messaging spec says.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for scheme ("hmac-sha256", or "" which means
// the same) and key. An empty key gives an unsigned Signer.
func NewSigner(scheme, key string) (*Signer, error) {
	if err := checkScheme(scheme); err != nil {
		return nil, err
	}
	if key == "" {
		return &Signer{}, nil
	}
	return &Signer{key: []byte(key)}, nil
}

func checkScheme(scheme string) error {
	if scheme != "" && scheme != SchemeHMACSHA256 {
		return fmt.Errorf("protocol: unsupported signature scheme %q (only %q is supported)", scheme, SchemeHMACSHA256)
	}
	return nil
}

// Enabled reports whether s signs and verifies.
func (s *Signer) Enabled() bool { return s != nil && len(s.key) > 0 }

func (s *Signer) mac(header, parent, metadata, content []byte) []byte {
	var h hash.Hash = hmac.New(sha256.New, s.key)
	h.Write(header)
	h.Write(parent)
	h.Write(metadata)
	h.Write(content)
	return h.Sum(nil)
}

// Sign returns the lowercase hex HMAC of the four signed parts, or "" when
// s is not enabled.
func (s *Signer) Sign(header, parent, metadata, content []byte) string {
	if !s.Enabled() {
		return ""
	}
	return hex.EncodeToString(s.mac(header, parent, metadata, content))
}

// Verify checks sig against the four signed parts in constant time. It
// accepts anything when s is not enabled.
func (s *Signer) Verify(sig, header, parent, metadata, content []byte) bool {
	if !s.Enabled() {
		return true
	}
	want := s.mac(header, parent, metadata, content)
	got := make([]byte, hex.DecodedLen(len(sig)))
	if _, err := hex.Decode(got, sig); err != nil {
		return false
	}
	return hmac.Equal(got, want)
}

// Decode parses multipart frames as received from a ROUTER socket:
// identities..., "<IDS|MSG>", signature, header, parent_header, metadata,
// content, buffers... It checks every frame count and size, verifies the
// signature (constant time) before parsing any JSON, requires msg_id and
// msg_type to be non-empty strings, and parent_header, metadata and content
// to be JSON objects. It never panics and never keeps a reference to
// frames.
func Decode(frames [][]byte, s *Signer) (*Message, error) {
	delim := -1
	for i, f := range frames {
		if string(f) == Delimiter {
			delim = i
			break
		}
	}
	switch {
	case delim < 0:
		return nil, ErrNoDelimiter
	case delim > MaxIdentities:
		return nil, fmt.Errorf("%w: %d, limit %d", ErrTooManyIdentities, delim, MaxIdentities)
	}
	rest := frames[delim+1:]
	if len(rest) < minSignedFrameCnt {
		return nil, fmt.Errorf("%w: %d, want at least %d", ErrTooFewFrames, len(rest), minSignedFrameCnt)
	}
	if len(rest)-minSignedFrameCnt > MaxBuffers {
		return nil, fmt.Errorf("%w: %d", ErrTooManyBuffers, len(rest)-minSignedFrameCnt)
	}
	for i := 0; i < delim; i++ {
		if len(frames[i]) > MaxIdentitySize {
			return nil, partErr("identity", ErrTooLarge, "%d bytes", len(frames[i]))
		}
	}
	sig, header, parent, metadata, content := rest[0], rest[1], rest[2], rest[3], rest[4]
	for _, c := range []struct {
		part  string
		frame []byte
		max   int
	}{
		{"signature", sig, MaxSignatureSize},
		{"header", header, MaxHeaderSize},
		{"parent_header", parent, MaxHeaderSize},
		{"metadata", metadata, MaxMetadataSize},
		{"content", content, MaxContentSize},
	} {
		if len(c.frame) > c.max {
			return nil, partErr(c.part, ErrTooLarge, "%d bytes, limit %d", len(c.frame), c.max)
		}
	}
	for _, b := range rest[minSignedFrameCnt:] {
		if len(b) > MaxBufferSize {
			return nil, partErr("buffer", ErrTooLarge, "%d bytes", len(b))
		}
	}
	if !s.Verify(sig, header, parent, metadata, content) {
		return nil, ErrBadSignature
	}

	m := &Message{}
	var err error
	if m.Header, err = decodeHeader("header", header, true); err != nil {
		return nil, err
	}
	if m.ParentHeader, err = decodeHeader("parent_header", parent, false); err != nil {
		return nil, err
	}
	if !isJSONObject(metadata) {
		return nil, partErr("metadata", ErrBadJSON, "not a JSON object")
	}
	if err := json.Unmarshal(metadata, &m.Metadata); err != nil {
		return nil, partErr("metadata", ErrBadJSON, "%v", err)
	}
	if m.Metadata == nil {
		m.Metadata = map[string]any{}
	}
	if !isJSONObject(content) {
		return nil, partErr("content", ErrBadJSON, "not a JSON object")
	}
	m.Content = append(json.RawMessage(nil), content...)
	if delim > 0 {
		m.Identities = make([][]byte, delim)
		for i := range delim {
			m.Identities[i] = append([]byte{}, frames[i]...)
		}
	}
	if bufs := rest[minSignedFrameCnt:]; len(bufs) > 0 {
		m.Buffers = make([][]byte, len(bufs))
		for i, b := range bufs {
			m.Buffers[i] = append([]byte{}, b...)
		}
	}
	return m, nil
}

// headerFields are the string fields of a header, by JSON name.
func headerFields(h *Header) map[string]*string {
	return map[string]*string{
		"msg_id":   &h.MsgID,
		"session":  &h.Session,
		"username": &h.Username,
		"date":     &h.Date,
		"msg_type": &h.MsgType,
		"version":  &h.Version,
	}
}

// decodeHeader parses a header object. Known fields must be strings (or
// null, meaning absent); unknown fields are ignored. A required header
// must have a non-empty msg_id and msg_type.
func decodeHeader(part string, data []byte, required bool) (Header, error) {
	var h Header
	if !isJSONObject(data) {
		return h, partErr(part, ErrBadJSON, "not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return h, partErr(part, ErrBadJSON, "%v", err)
	}
	for name, dst := range headerFields(&h) {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return Header{}, partErr(part, ErrBadField, "%s is not a string", name)
		}
	}
	if required {
		if h.MsgID == "" {
			return Header{}, partErr(part, ErrBadField, "empty or missing msg_id")
		}
		if h.MsgType == "" {
			return Header{}, partErr(part, ErrBadField, "empty or missing msg_type")
		}
	}
	return h, nil
}

// isJSONObject reports whether data is one valid JSON object (surrounding
// white space allowed).
func isJSONObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(data)
}

// Encode returns the frames of m: identities..., "<IDS|MSG>", signature,
// header, parent_header, metadata, content, buffers... An empty Content is
// sent as {}. It fails when the header has no msg_id or msg_type, when
// Content is not a JSON object, or when the metadata cannot be marshaled.
func Encode(m *Message, s *Signer) ([][]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("protocol: Encode: nil message")
	}
	if m.Header.MsgID == "" || m.Header.MsgType == "" {
		return nil, partErr("header", ErrBadField, "empty msg_id or msg_type")
	}
	if len(m.Identities) > MaxIdentities {
		return nil, ErrTooManyIdentities
	}
	if len(m.Buffers) > MaxBuffers {
		return nil, ErrTooManyBuffers
	}
	header, err := json.Marshal(m.Header)
	if err != nil {
		return nil, partErr("header", ErrBadJSON, "%v", err)
	}
	parent, err := json.Marshal(m.ParentHeader)
	if err != nil {
		return nil, partErr("parent_header", ErrBadJSON, "%v", err)
	}
	metadata := []byte("{}")
	if len(m.Metadata) > 0 {
		if metadata, err = json.Marshal(m.Metadata); err != nil {
			return nil, partErr("metadata", ErrBadJSON, "%v", err)
		}
	}
	content := []byte(m.Content)
	if len(content) == 0 {
		content = []byte("{}")
	} else if !isJSONObject(content) {
		return nil, partErr("content", ErrBadJSON, "not a JSON object")
	}
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	frames = append(frames,
		[]byte(Delimiter),
		[]byte(s.Sign(header, parent, metadata, content)),
		header, parent, metadata, content)
	frames = append(frames, m.Buffers...)
	return frames, nil
}
