package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

// recordingWire is a transport that keeps what it is given, in order.
// Holding it (hold) makes Flush wait, as a subscriber that lags would.
type recordingWire struct {
	mu      sync.Mutex
	sent    []*protocol.Message // Send on shell, control, stdin
	pub     []*protocol.Message
	flushes int
	hold    chan struct{} // while non-nil and open, Flush waits
}

func (w *recordingWire) Send(_ protocol.Channel, m *protocol.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, m)
	return nil
}

func (w *recordingWire) Publish(m *protocol.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pub = append(w.pub, m)
}

func (w *recordingWire) Flush(ctx context.Context) error {
	w.mu.Lock()
	w.flushes++
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *recordingWire) published() []*protocol.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*protocol.Message(nil), w.pub...)
}

func newTestOutbox(t *testing.T) (*Outbox, *recordingWire) {
	t.Helper()
	w := &recordingWire{}
	o := NewOutbox(w, nil)
	t.Cleanup(o.Close)
	return o, w
}

func testRequest(t *testing.T) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(nil, "client", "execute_request", nil)
	require.NoError(t, err)
	m.Identities = [][]byte{[]byte("shell-client")}
	return m
}

func streamMsg(t *testing.T, parent *protocol.Message, name, text string) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(parent, "k", "stream", map[string]string{"name": name, "text": text})
	require.NoError(t, err)
	return m
}

func statusMsg(t *testing.T, parent *protocol.Message, state string) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(parent, "k", "status", map[string]string{"execution_state": state})
	require.NoError(t, err)
	return m
}

// summary is what a test compares of a published message.
type summary struct{ typ, parent, text string }

func summarize(t *testing.T, ms []*protocol.Message) []summary {
	t.Helper()
	var out []summary
	for _, m := range ms {
		var c struct{ Name, Text, Execution_state string }
		require.NoError(t, m.DecodeContent(&c))
		s := summary{m.Header.MsgType, m.ParentHeader.MsgID, c.Execution_state}
		if m.Header.MsgType == "stream" {
			s.text = c.Name + ":" + c.Text
		}
		out = append(out, s)
	}
	return out
}

// Promise: adjacent stream messages of one parent and name are merged
// while they wait; a message of another kind, name or parent between them
// keeps them apart; order is kept and the caller's messages are not
// changed.
func TestOutboxCoalescesStreams(t *testing.T) {
	o, w := newTestOutbox(t)
	p1, p2 := testRequest(t), testRequest(t)

	o.q.setPaused(true)
	in := []*protocol.Message{
		statusMsg(t, p1, "busy"),
		streamMsg(t, p1, "stdout", "a"),
		streamMsg(t, p1, "stdout", "b"),
		streamMsg(t, p1, "stdout", "ç\n"),
		streamMsg(t, p1, "stderr", "e1"),
		streamMsg(t, p1, "stderr", "e2"),
		streamMsg(t, p1, "stdout", "c"),
		statusMsg(t, p1, "idle"),
		statusMsg(t, p1, "idle"),
		streamMsg(t, p1, "stdout", "d"),
		streamMsg(t, p2, "stdout", "other parent"),
	}
	for _, m := range in {
		o.Publish(m)
	}
	assert.Equal(t, 8, o.q.len())
	o.q.setPaused(false)
	require.NoError(t, o.Flush(context.Background()))

	assert.Equal(t, []summary{
		{"status", p1.Header.MsgID, "busy"},
		{"stream", p1.Header.MsgID, "stdout:abç\n"},
		{"stream", p1.Header.MsgID, "stderr:e1e2"},
		{"stream", p1.Header.MsgID, "stdout:c"},
		{"status", p1.Header.MsgID, "idle"},
		{"status", p1.Header.MsgID, "idle"},
		{"stream", p1.Header.MsgID, "stdout:d"},
		{"stream", p2.Header.MsgID, "stdout:other parent"},
	}, summarize(t, w.published()))
	merged := w.published()[1]
	assert.Equal(t, in[1].Header, merged.Header, "a merged message keeps the first one's header")
	assert.Equal(t, [][]byte{[]byte("shell-client")}, merged.Identities)
	// The caller's messages were not changed by coalescing.
	assert.JSONEq(t, `{"name":"stdout","text":"a"}`, string(in[1].Content))
}

// Promise: only plain stream messages merge: not ones with metadata or
// buffers or other content fields, not across sessions, never beyond
// 1 MiB of text, and never into a message the writer already took.
func TestOutboxMergesOnlyWhatIsSafe(t *testing.T) {
	o, w := newTestOutbox(t)
	p := testRequest(t)
	withMeta := streamMsg(t, p, "stdout", "m")
	withMeta.Metadata = map[string]any{"x": 1}
	withBuf := streamMsg(t, p, "stdout", "b")
	withBuf.Buffers = [][]byte{[]byte("buf")}
	extra := streamMsg(t, p, "stdout", "x")
	extra.Content = json.RawMessage(`{"name":"stdout","text":"x","extra":1}`)
	otherSession := streamMsg(t, p, "stdout", "s")
	otherSession.Header.Session = "another"
	big := strings.Repeat("y", maxCoalescedText-1)

	o.q.setPaused(true)
	for _, m := range []*protocol.Message{
		streamMsg(t, p, "stdout", "1"), withMeta, withBuf, extra, otherSession,
		streamMsg(t, p, "stdout", big), streamMsg(t, p, "stdout", "zz"),
	} {
		o.Publish(m)
	}
	o.q.setPaused(false)
	require.NoError(t, o.Flush(context.Background()))
	got := summarize(t, w.published())
	require.Len(t, got, 7, "nothing merged")
	assert.Equal(t, "stdout:zz", got[6].text, "the 1 MiB bound starts a new message")

	// The writer took "late-1" already: "late-2" is a message of its own.
	o.Publish(streamMsg(t, p, "stdout", "late-1"))
	require.NoError(t, o.Flush(context.Background()))
	o.Publish(streamMsg(t, p, "stdout", "late-2"))
	require.NoError(t, o.Flush(context.Background()))
	got = summarize(t, w.published())
	assert.Equal(t, []string{"stdout:late-1", "stdout:late-2"}, []string{got[7].text, got[8].text})
}

// Promise: output order is kept and nothing is dropped, for many messages
// published faster than the writer takes them; Flush returns once they
// are all handed over and the wire is flushed.
func TestOutboxOrderAndFlush(t *testing.T) {
	o, w := newTestOutbox(t)
	p := testRequest(t)
	var want bytes.Buffer
	const n = 5000
	for i := range n {
		if i%7 == 0 {
			o.Publish(statusMsg(t, p, "busy"))
		}
		text := strings.Repeat("x", i%50) + "\n"
		want.WriteString(text)
		o.Publish(streamMsg(t, p, "stdout", text))
	}
	require.NoError(t, o.Flush(context.Background()))
	var got bytes.Buffer
	for _, s := range summarize(t, w.published()) {
		if s.typ == "stream" {
			got.WriteString(strings.TrimPrefix(s.text, "stdout:"))
		}
	}
	assert.Equal(t, want.String(), got.String(), "every stream byte, in order")
	assert.Equal(t, 0, o.q.len())

	// Flush waits for the wire, and reports a context that ends first.
	w.mu.Lock()
	w.hold = make(chan struct{})
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, o.Flush(ctx), context.DeadlineExceeded)
	close(w.hold)
	require.NoError(t, o.Flush(context.Background()))
}

// Promise: Publish blocks while the outbox holds its bound of messages
// (backpressure, not drops), and goes on once the writer catches up.
func TestOutboxBackpressure(t *testing.T) {
	o, w := newTestOutbox(t)
	o.q.mu.Lock()
	o.q.max = 3
	o.q.mu.Unlock()
	o.q.setPaused(true)
	for range 3 {
		o.Publish(statusMsg(t, nil, "busy"))
	}
	// A stream message coalesces into nothing here (the tail is a
	// status), so it has to wait for room.
	returned := make(chan struct{})
	go func() {
		o.Publish(streamMsg(t, nil, "stdout", "x"))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Publish did not block on a full outbox")
	case <-time.After(50 * time.Millisecond):
	}
	o.q.setPaused(false)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish stayed blocked after the outbox drained")
	}
	require.NoError(t, o.Flush(context.Background()))
	assert.Len(t, w.published(), 4, "nothing dropped")
}

// Promise: the outbox is bounded in bytes too: a message over the bound
// waits alone (it is not refused), and the next one waits for it.
func TestOutboxBoundInBytes(t *testing.T) {
	o, w := newTestOutbox(t)
	o.q.mu.Lock()
	o.q.maxBytes = 1 << 20
	o.q.mu.Unlock()
	o.q.setPaused(true)
	display := func(n int) *protocol.Message {
		m, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{"data": map[string]any{"text/plain": strings.Repeat("d", n)}})
		require.NoError(t, err)
		return m
	}
	// One message over the bound is queued alone: it must not block
	// forever.
	o.Publish(display(2 << 20))
	returned := make(chan struct{})
	go func() {
		o.Publish(display(100))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Publish did not wait while the outbox held more than its byte bound")
	case <-time.After(50 * time.Millisecond):
	}
	o.q.setPaused(false)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish stayed blocked after the outbox drained")
	}
	require.NoError(t, o.Flush(context.Background()))
	assert.Len(t, w.published(), 2)
	o.q.mu.Lock()
	defer o.q.mu.Unlock()
	assert.Zero(t, o.q.bytes, "the byte count goes back to zero")
}

// Promise: metadata and buffers count against the byte bound by their
// size, so tiny content with large metadata cannot fill memory.
func TestOutboxCountsMetadataAndBuffers(t *testing.T) {
	m, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{})
	require.NoError(t, err)
	m.Metadata = map[string]any{"image/png": map[string]any{"alt": strings.Repeat("m", 1000)}}
	m.Buffers = [][]byte{make([]byte, 300)}
	assert.GreaterOrEqual(t, messageSize(m), len(m.Content)+1000+300)
}

// Promise: replies go straight to the wire, iopub through the outbox;
// Close hands over what waits, and a Publish after Close neither blocks
// nor reaches the wire.
func TestOutboxSendAndClose(t *testing.T) {
	w := &recordingWire{}
	o := NewOutbox(w, nil)
	p := testRequest(t)
	reply, err := protocol.NewMessage(p, "k", "execute_reply", nil)
	require.NoError(t, err)
	require.NoError(t, o.Send(protocol.Shell, reply))
	require.NoError(t, o.Send(protocol.IOPub, statusMsg(t, p, "idle")))
	o.q.setPaused(true)
	o.Publish(statusMsg(t, p, "busy"))
	o.Close() // unpauses and drains
	assert.Len(t, w.sent, 1)
	assert.Len(t, w.published(), 2, "what waited at Close went out")
	o.Publish(statusMsg(t, p, "idle"))
	assert.Len(t, w.published(), 2, "a Publish after Close is discarded")
	assert.NoError(t, o.Flush(context.Background()), "a Flush after Close has nothing to wait for")
	o.Close() // twice is fine
}
