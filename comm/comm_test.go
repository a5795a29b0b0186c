package comm

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol/content"
)

// wire records what a Manager sends.
type wire struct {
	mu   sync.Mutex
	sent []Message
	fail error
}

func (w *wire) SendComm(m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.sent = append(w.sent, m)
	return nil
}

func TestDecodeRejectsMalformedContent(t *testing.T) {
	for _, bad := range []struct{ typ, content, why string }{
		{Open, `{"comm_id":"a"}`, "target_name"},
		{Open, `{"target_name":"t"}`, "comm_id"},
		{Msg, `{"data":{}}`, "comm_id"},
		{Close, `{"comm_id":""}`, "comm_id"},
		{Msg, `{"comm_id":"a","data":[1]}`, "not an object"},
		{Msg, `{"comm_id":7}`, "cannot unmarshal"},
		{"comm_info_request", `{}`, "not a comm message"},
	} {
		_, err := Decode(bad.typ, json.RawMessage(bad.content))
		require.ErrorContains(t, err, bad.why, "%s %s", bad.typ, bad.content)
	}
	m, err := Decode(Open, json.RawMessage(`{"comm_id":"a","target_name":"t","data":null}`))
	require.NoError(t, err)
	b, _ := json.Marshal(m.Content())
	require.JSONEq(t, `{"comm_id":"a","target_name":"t","data":{}}`, string(b))
}

func TestGoCommsAreRoutedAndListed(t *testing.T) {
	w := &wire{}
	m := NewManager(w)
	c, err := m.Open("progress", map[string]int{"v": 1}, nil, [][]byte{{1, 2}})
	require.NoError(t, err)
	require.Equal(t, map[string]content.CommTarget{c.ID: {TargetName: "progress"}}, m.Info(""))
	require.Empty(t, m.Info("other"))

	var got []string
	c.OnMsg(func(msg Message) { got = append(got, string(msg.Data)) })
	closed := false
	c.OnClose(func(Message) { closed = true })
	require.True(t, m.Route(Message{Type: Msg, CommID: c.ID, Data: json.RawMessage(`{"x":2}`)}))
	require.False(t, m.Route(Message{Type: Msg, CommID: "the-interpreters"}), "a comm Go does not hold goes to the interpreter")
	require.False(t, m.Route(Message{Type: Open, CommID: "n", TargetName: "unregistered"}))
	require.True(t, m.Route(Message{Type: Close, CommID: c.ID}))
	require.Equal(t, []string{`{"x":2}`}, got)
	require.True(t, closed)
	require.Empty(t, m.Info(""))
	require.ErrorIs(t, c.Send(nil, nil, nil), ErrClosed)

	// A comm the frontend opens to a Go target.
	m.RegisterTarget("echo", func(c *Comm, open Message) {
		c.OnMsg(func(msg Message) { _ = c.Send(msg.Data, nil, msg.Buffers) })
	})
	require.True(t, m.Route(Message{Type: Open, CommID: "f1", TargetName: "echo"}))
	require.True(t, m.Route(Message{Type: Msg, CommID: "f1", Data: json.RawMessage(`{"y":3}`), Buffers: [][]byte{{9}}}))
	require.Equal(t, map[string]content.CommTarget{"f1": {TargetName: "echo"}}, m.Info("echo"))
	m.UnregisterTarget("echo")
	require.False(t, m.Route(Message{Type: Open, CommID: "f2", TargetName: "echo"}))

	w.mu.Lock()
	defer w.mu.Unlock()
	// The frontend's close is not echoed back (as in ipykernel).
	require.Len(t, w.sent, 2)
	require.Equal(t, Open, w.sent[0].Type)
	require.Equal(t, [][]byte{{1, 2}}, w.sent[0].Buffers)
	require.Equal(t, Message{Type: Msg, CommID: "f1", Data: json.RawMessage(`{"y":3}`), Buffers: [][]byte{{9}}}, w.sent[1])
}

func TestOpenRefusesBadDataAndFailedSends(t *testing.T) {
	w := &wire{}
	m := NewManager(w)
	_, err := m.Open("t", []int{1}, nil, nil)
	require.ErrorContains(t, err, "JSON object")
	_, err = m.Open("", nil, nil, nil)
	require.ErrorContains(t, err, "target name")
	w.fail = errors.New("no frontend")
	_, err = m.Open("t", nil, nil, nil)
	require.ErrorContains(t, err, "no frontend")
	require.Empty(t, m.Info(""), "a comm that could not be opened is not listed")
}

func TestResetClosesEveryCommAndKeepsTargets(t *testing.T) {
	out := &wire{}
	m := NewManager(out)
	m.RegisterTarget("t", func(*Comm, Message) {})
	a, err := m.Open("x", nil, nil, nil)
	require.NoError(t, err)
	var closed []string
	a.OnClose(func(msg Message) { closed = append(closed, msg.CommID) })
	b, err := m.Open("y", nil, nil, nil)
	require.NoError(t, err)
	require.NoError(t, b.Close(nil)) // already closed: no second OnClose
	sent := len(out.sent)
	m.Reset()
	require.Equal(t, []string{a.ID}, closed)
	require.Len(t, out.sent, sent, "the frontend forgot its comms itself: nothing is sent")
	require.ErrorIs(t, a.Send(nil, nil, nil), ErrClosed)
	require.Empty(t, m.Info(""))
	// The target still serves a comm the frontend opens after the restart.
	require.True(t, m.Route(Message{Type: Open, CommID: "c2", TargetName: "t"}))
}
