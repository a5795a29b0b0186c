package kernel

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/protocol"
)

// input() asks the client of the running cell on stdin and gets its
// input_reply; a reply when no question waits is dropped.
func TestInputGoesThroughTheStdinBroker(t *testing.T) {
	h := newHarness(t)
	h.send(t, protocol.Stdin, "input_reply", map[string]any{"value": "nobody asked"})
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "input"})
	var ask *protocol.Message
	require.Eventually(t, func() bool {
		h.tr.mu.Lock()
		defer h.tr.mu.Unlock()
		for _, m := range h.tr.sent {
			if m.Header.MsgType == "input_request" {
				ask = m
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, id, ask.ParentHeader.MsgID)
	require.JSONEq(t, `{"prompt":"name? ","password":false}`, string(ask.Content))
	// iopub was flushed before the question went out (after busy and
	// execute_input were published, before anything was sent on stdin),
	// so a console shows what the cell printed before it asks.
	h.tr.mu.Lock()
	flushes := append([][2]int(nil), h.tr.flushes...)
	h.tr.mu.Unlock()
	require.NotEmpty(t, flushes, "no flush before the input_request")
	require.Equal(t, 0, flushes[0][0], "the flush came after the input_request was sent")
	require.GreaterOrEqual(t, flushes[0][1], 2, "the flush came before busy and execute_input were published")
	h.send(t, protocol.Stdin, "input_reply", map[string]any{"value": "Ada"})
	require.Equal(t, "ok", h.tr.waitReply(t, id)["status"])
	require.Equal(t, []string{"stdout:Ada"}, streamTexts(t, h.tr.publishedFor(id)))

	// Outside a cell, the interpreter is told stdin is not available.
	_, err := kernelHost{h.k}.Input(t.Context(), "?", false)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "StdinNotImplementedError", ie.Type)
}

// comm_info_request lists the comms of both owners (the interpreter,
// asked; Go code, in comm.Manager); a frontend message for a comm Go holds
// is served by Go, any other goes to the interpreter.
func TestCommsHaveOneOwnerEach(t *testing.T) {
	h := newHarness(t)
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "widget"}))
	var fromFrontend []string
	goComm, err := h.k.Comms().Open("go.target", map[string]int{"v": 1}, nil, [][]byte{{7}})
	require.NoError(t, err)
	goComm.OnMsg(func(m comm.Message) { fromFrontend = append(fromFrontend, string(m.Data)) })

	r := h.tr.waitReply(t, h.send(t, protocol.Shell, "comm_info_request", map[string]any{}))
	require.Equal(t, map[string]any{
		"w1":      map[string]any{"target_name": "jupyter.widget"},
		goComm.ID: map[string]any{"target_name": "go.target"},
	}, r["comms"])
	r = h.tr.waitReply(t, h.send(t, protocol.Shell, "comm_info_request", map[string]any{"target_name": "go.target"}))
	require.Equal(t, map[string]any{goComm.ID: map[string]any{"target_name": "go.target"}}, r["comms"])

	toGo := h.send(t, protocol.Shell, "comm_msg", map[string]any{"comm_id": goComm.ID, "data": map[string]any{"clicked": true}})
	toPython := h.send(t, protocol.Shell, "comm_msg", map[string]any{"comm_id": "w1", "data": map[string]any{}})
	h.tr.waitIOPub(t, toPython, []string{"status:busy", "stream", "status:idle"})
	h.tr.waitIOPub(t, toGo, []string{"status:busy", "status:idle"})
	require.Equal(t, []string{`{"clicked":true}`}, fromFrontend)
	require.Equal(t, []string{"stdout:interpreter got comm_msg w1"}, streamTexts(t, h.tr.publishedFor(toPython)))

	// A malformed comm message reaches neither.
	bad := h.send(t, protocol.Shell, "comm_msg", map[string]any{"data": map[string]any{}})
	h.tr.waitIOPub(t, bad, []string{"status:busy", "status:idle"})
}

// Go code publishes display data into the running cell (or the last one).
func TestDisplayFromGoGoesToTheCurrentCell(t *testing.T) {
	h := newHarness(t)
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	h.tr.waitReply(t, id)
	var b display.Bundle
	require.NoError(t, b.Set("text/plain", "from Go"))
	pub := h.k.Display() // kept across cells, as a Go module would
	require.NoError(t, display.Show(pub, b))
	require.Error(t, display.Show(pub, display.Bundle{}), "an empty bundle is refused")
	last := func(id string) map[string]any {
		msgs := h.tr.publishedFor(id)
		require.Equal(t, "display_data", msgs[len(msgs)-1].Header.MsgType)
		var c map[string]any
		require.NoError(t, json.Unmarshal(msgs[len(msgs)-1].Content, &c))
		return c
	}
	require.Equal(t, map[string]any{"text/plain": "from Go"}, last(id)["data"])

	next := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	h.tr.waitReply(t, next)
	require.NoError(t, display.Show(pub, b))
	require.Equal(t, map[string]any{"text/plain": "from Go"}, last(next)["data"], "the same publisher follows the current cell")
}

// comm_info_request asks the interpreter, which is busy while a cell runs:
// on the control channel it must not hold up an interrupt sent after it.
func TestControlNeverWaitsForTheInterpreter(t *testing.T) {
	h := newHarness(t)
	h.interp(0).busy = make(chan struct{})
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	require.Eventually(t, func() bool { return len(h.tr.iopub(blocker)) >= 2 }, 5*time.Second, time.Millisecond)
	info := h.send(t, protocol.Control, "comm_info_request", map[string]any{})
	intr := h.send(t, protocol.Control, "interrupt_request", map[string]any{})
	require.Equal(t, "ok", h.tr.waitReply(t, intr)["status"])
	close(h.interp(0).block)
	close(h.interp(0).busy)
	require.Equal(t, "ok", h.tr.waitReply(t, info)["status"])
	require.Equal(t, "ok", h.tr.waitReply(t, blocker)["status"])
}
