package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "a0436f6c-1916-498b-8eb9-e81ab9368e84"

func mustSigner(t testing.TB, key string) *Signer {
	t.Helper()
	s, err := NewSigner(SchemeHMACSHA256, key)
	require.NoError(t, err)
	return s
}

func TestSignKnownAnswer(t *testing.T) {
	s := mustSigner(t, testKey)
	header := []byte(`{"msg_id":"1","msg_type":"kernel_info_request"}`)
	empty := []byte(`{}`)

	// Fixed vector, computed once with Python's hmac module.
	const want = "23d21ade63d42fc48bbe2721cd9045ceffb260c3521b7d246495f23adfca79a0"
	assert.Equal(t, want, s.Sign(header, empty, empty, empty))

	// And independently with crypto/hmac over the concatenation.
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write(append(append(append(append([]byte{}, header...), empty...), empty...), empty...))
	assert.Equal(t, hex.EncodeToString(mac.Sum(nil)), s.Sign(header, empty, empty, empty))

	assert.True(t, s.Verify([]byte(want), header, empty, empty, empty))
	upper := []byte("23D21ADE63D42FC48BBE2721CD9045CEFFB260C3521B7D246495F23ADFCA79A0")
	assert.True(t, s.Verify(upper, header, empty, empty, empty), "hex case does not matter")
	assert.False(t, s.Verify([]byte(want), header, empty, empty, []byte(`{"x":1}`)))
	assert.False(t, s.Verify([]byte("zz"), header, empty, empty, empty))
	assert.False(t, s.Verify(nil, header, empty, empty, empty))
}

func TestSignerUnsigned(t *testing.T) {
	s := mustSigner(t, "")
	assert.False(t, s.Enabled())
	assert.Equal(t, "", s.Sign([]byte("a"), nil, nil, nil))
	assert.True(t, s.Verify([]byte("anything"), nil, nil, nil, nil))

	var nilSigner *Signer
	assert.Equal(t, "", nilSigner.Sign(nil, nil, nil, nil))
	assert.True(t, nilSigner.Verify(nil, nil, nil, nil, nil))

	_, err := NewSigner("hmac-md5", "k")
	assert.ErrorContains(t, err, "unsupported signature scheme")
	s, err = NewSigner("", "k")
	require.NoError(t, err)
	assert.True(t, s.Enabled(), "empty scheme means hmac-sha256")
}

func sampleMessage(t testing.TB) *Message {
	t.Helper()
	parent, err := NewMessage(nil, "client-session", "execute_request", map[string]any{"code": "print('hé')"})
	require.NoError(t, err)
	parent.Identities = [][]byte{[]byte("proxy"), {0, 1, 2, 0xff}}
	m, err := NewMessage(parent, "", "execute_reply", map[string]any{
		"status": "ok", "execution_count": 3, "text": "日本語 ✓ \u2028 \"quoted\" <tag> &",
	})
	require.NoError(t, err)
	m.Metadata = map[string]any{"started": "2024-01-01T00:00:00.000000Z", "n": 1.5, "nested": map[string]any{"a": []any{true, nil}}}
	m.Buffers = [][]byte{{0, 1, 2}, {}, []byte("buffer")}
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, key := range []string{testKey, ""} {
		s := mustSigner(t, key)
		m := sampleMessage(t)
		frames, err := Encode(m, s)
		require.NoError(t, err)
		assert.Equal(t, Delimiter, string(frames[2]))
		if key == "" {
			assert.Empty(t, frames[3], "no signature without a key")
		} else {
			assert.Len(t, frames[3], 64)
		}
		got, err := Decode(frames, s)
		require.NoError(t, err)
		assert.Equal(t, m, got)

		var c map[string]any
		require.NoError(t, got.DecodeContent(&c))
		assert.Equal(t, "日本語 ✓ \u2028 \"quoted\" <tag> &", c["text"])
	}
}

func TestEncodeDecodeMinimal(t *testing.T) {
	m := &Message{Header: Header{MsgID: "x", MsgType: "status"}}
	frames, err := Encode(m, nil)
	require.NoError(t, err)
	require.Len(t, frames, 6)
	assert.Equal(t, "{}", string(frames[3]), "zero parent header is {}")
	assert.Equal(t, "{}", string(frames[4]))
	assert.Equal(t, "{}", string(frames[5]), "empty content is {}")
	got, err := Decode(frames, nil)
	require.NoError(t, err)
	assert.Nil(t, got.Identities)
	assert.Nil(t, got.Buffers)
	assert.Equal(t, map[string]any{}, got.Metadata)
	assert.JSONEq(t, "{}", string(got.Content))
	assert.True(t, got.ParentHeader.IsZero())
}

func TestNewMessage(t *testing.T) {
	m, err := NewMessage(nil, "sess", "status", nil)
	require.NoError(t, err)
	assert.Len(t, m.Header.MsgID, 36)
	id, err := uuid.Parse(m.Header.MsgID)
	require.NoError(t, err, "msg_id is a UUID")
	assert.Equal(t, uuid.Version(4), id.Version())
	assert.Equal(t, uuid.RFC4122, id.Variant())
	assert.Equal(t, "sess", m.Header.Session)
	assert.Equal(t, Version, m.Header.Version)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, m.Header.Date)
	assert.JSONEq(t, "{}", string(m.Content))
	assert.True(t, m.ParentHeader.IsZero())

	m.Identities = [][]byte{[]byte("id")}
	m.Header.Username = "alice"
	r, err := NewMessage(m, "ignored", "status_reply", json.RawMessage(`{"a":1}`))
	require.NoError(t, err)
	assert.Equal(t, m.Header, r.ParentHeader)
	assert.Equal(t, "sess", r.Header.Session)
	assert.Equal(t, "alice", r.Header.Username)
	assert.Equal(t, [][]byte{[]byte("id")}, r.Identities)
	r.Identities[0][0] = 'X'
	assert.Equal(t, "id", string(m.Identities[0]), "identities are copied")
	assert.NotEqual(t, m.Header.MsgID, r.Header.MsgID)

	_, err = NewMessage(nil, "s", "x", []int{1})
	assert.Error(t, err, "content must be an object")
	_, err = NewMessage(nil, "s", "", nil)
	assert.Error(t, err)
}

// frames builds a signed message from raw parts.
func rawFrames(s *Signer, ids []string, header, parent, metadata, content string, buffers ...string) [][]byte {
	var f [][]byte
	for _, id := range ids {
		f = append(f, []byte(id))
	}
	f = append(f, []byte(Delimiter), []byte(s.Sign([]byte(header), []byte(parent), []byte(metadata), []byte(content))),
		[]byte(header), []byte(parent), []byte(metadata), []byte(content))
	for _, b := range buffers {
		f = append(f, []byte(b))
	}
	return f
}

const okHeader = `{"msg_id":"1","msg_type":"execute_request","session":"s","username":"u","date":"d","version":"5.3"}`

func TestDecodeRejects(t *testing.T) {
	s := mustSigner(t, testKey)
	good := rawFrames(s, []string{"id"}, okHeader, `{}`, `{}`, `{"code":"1"}`)
	_, err := Decode(good, s)
	require.NoError(t, err)

	manyIDs := make([]string, MaxIdentities+1)
	for i := range manyIDs {
		manyIDs[i] = "id"
	}
	tooManyBufs := rawFrames(s, nil, okHeader, `{}`, `{}`, `{}`, make([]string, MaxBuffers+1)...)
	badSig := rawFrames(s, nil, okHeader, `{}`, `{}`, `{}`)
	badSig[1] = []byte("0000000000000000000000000000000000000000000000000000000000000000")
	bigID := rawFrames(s, []string{string(make([]byte, MaxIdentitySize+1))}, okHeader, `{}`, `{}`, `{}`)

	cases := []struct {
		name   string
		frames [][]byte
		want   error
		part   string
	}{
		{"nil", nil, ErrNoDelimiter, ""},
		{"no delimiter", [][]byte{[]byte("id"), []byte("sig"), []byte(okHeader)}, ErrNoDelimiter, ""},
		{"only delimiter", [][]byte{[]byte(Delimiter)}, ErrTooFewFrames, ""},
		{"too few frames", good[:len(good)-1], ErrTooFewFrames, ""},
		{"too many identities", rawFrames(s, manyIDs, okHeader, `{}`, `{}`, `{}`), ErrTooManyIdentities, ""},
		{"too many buffers", tooManyBufs, ErrTooManyBuffers, ""},
		{"identity too large", bigID, ErrTooLarge, "identity"},
		{"bad signature", badSig, ErrBadSignature, ""},
		{"unsigned", append([][]byte{[]byte(Delimiter), nil}, good[3:]...), ErrBadSignature, ""},
		{"header bad json", rawFrames(s, nil, `{"msg_id":`, `{}`, `{}`, `{}`), ErrBadJSON, "header"},
		{"header not object", rawFrames(s, nil, `["msg_id"]`, `{}`, `{}`, `{}`), ErrBadJSON, "header"},
		{"header null", rawFrames(s, nil, `null`, `{}`, `{}`, `{}`), ErrBadJSON, "header"},
		{"header empty", rawFrames(s, nil, ``, `{}`, `{}`, `{}`), ErrBadJSON, "header"},
		{"msg_id number", rawFrames(s, nil, `{"msg_id":1,"msg_type":"x"}`, `{}`, `{}`, `{}`), ErrBadField, "header"},
		{"msg_id missing", rawFrames(s, nil, `{"msg_type":"x"}`, `{}`, `{}`, `{}`), ErrBadField, "header"},
		{"msg_type empty", rawFrames(s, nil, `{"msg_id":"1","msg_type":""}`, `{}`, `{}`, `{}`), ErrBadField, "header"},
		{"session object", rawFrames(s, nil, `{"msg_id":"1","msg_type":"x","session":{}}`, `{}`, `{}`, `{}`), ErrBadField, "header"},
		{"parent bad json", rawFrames(s, nil, okHeader, `{`, `{}`, `{}`), ErrBadJSON, "parent_header"},
		{"parent array", rawFrames(s, nil, okHeader, `[]`, `{}`, `{}`), ErrBadJSON, "parent_header"},
		{"parent msg_id number", rawFrames(s, nil, okHeader, `{"msg_id":7}`, `{}`, `{}`), ErrBadField, "parent_header"},
		{"metadata bad json", rawFrames(s, nil, okHeader, `{}`, `{"a":}`, `{}`), ErrBadJSON, "metadata"},
		{"metadata string", rawFrames(s, nil, okHeader, `{}`, `"x"`, `{}`), ErrBadJSON, "metadata"},
		{"content bad json", rawFrames(s, nil, okHeader, `{}`, `{}`, `{"code":"1"`), ErrBadJSON, "content"},
		{"content array", rawFrames(s, nil, okHeader, `{}`, `{}`, `[1,2]`), ErrBadJSON, "content"},
		{"content null", rawFrames(s, nil, okHeader, `{}`, `{}`, `null`), ErrBadJSON, "content"},
		{"content trailing garbage", rawFrames(s, nil, okHeader, `{}`, `{}`, `{} {}`), ErrBadJSON, "content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m *Message
			require.NotPanics(t, func() { m, err = Decode(tc.frames, s) })
			assert.Nil(t, m)
			assert.ErrorIs(t, err, tc.want)
			if tc.part != "" {
				var pe *PartError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tc.part, pe.Part)
			}
		})
	}
}

func TestDecodeLenient(t *testing.T) {
	// Null header fields are absent, unknown fields ignored, white space
	// around objects kept as sent.
	f := rawFrames(nil, nil, `{"msg_id":"1","msg_type":"x","date":null,"extra":[1]}`, ` {} `, "{}\n", ` {"a": 1} `)
	m, err := Decode(f, nil)
	require.NoError(t, err)
	assert.Equal(t, Header{MsgID: "1", MsgType: "x"}, m.Header)
	assert.Equal(t, ` {"a": 1} `, string(m.Content))

	// Decode keeps no reference to the frames.
	f[0] = []byte(Delimiter)
	f = append([][]byte{[]byte("id")}, f...)
	m, err = Decode(f, nil)
	require.NoError(t, err)
	f[0][0] = 'X'
	f[len(f)-1][1] = 'X'
	assert.Equal(t, "id", string(m.Identities[0]))
	assert.Equal(t, ` {"a": 1} `, string(m.Content))
}

func TestEncodeRejects(t *testing.T) {
	_, err := Encode(nil, nil)
	assert.Error(t, err)
	_, err = Encode(&Message{Header: Header{MsgType: "x"}}, nil)
	assert.ErrorIs(t, err, ErrBadField)
	_, err = Encode(&Message{Header: Header{MsgID: "1", MsgType: "x"}, Content: json.RawMessage(`[1]`)}, nil)
	assert.ErrorIs(t, err, ErrBadJSON)
	_, err = Encode(&Message{Header: Header{MsgID: "1", MsgType: "x"}, Metadata: map[string]any{"f": func() {}}}, nil)
	assert.ErrorIs(t, err, ErrBadJSON)
	_, err = Encode(&Message{Header: Header{MsgID: "1", MsgType: "x"}, Identities: make([][]byte, MaxIdentities+1)}, nil)
	assert.True(t, errors.Is(err, ErrTooManyIdentities))
}

func TestHeaderJSON(t *testing.T) {
	b, err := json.Marshal(Header{})
	require.NoError(t, err)
	assert.Equal(t, "{}", string(b))
	b, err = json.Marshal(Header{MsgID: "1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"msg_id":"1","session":"","username":"","date":"","msg_type":"","version":""}`, string(b))
}

func TestIOPubTopic(t *testing.T) {
	m := &Message{Header: Header{Session: "abc", MsgType: "status"}}
	assert.Equal(t, "kernel.abc.status", string(IOPubTopic(m)))
}
