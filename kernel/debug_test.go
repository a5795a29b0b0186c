package kernel

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

func debugRequest(command string, seq int) map[string]any {
	return map[string]any{"type": "request", "seq": seq, "command": command, "arguments": map[string]any{}}
}

// While a cell runs (the fake's "block", as a cell stopped at a
// breakpoint), debug_requests on control are answered in order, between
// busy and idle, and the debugger's events reach iopub as debug_event.
func TestDebugRequestsAreServedWhileACellRuns(t *testing.T) {
	h := newHarness(t)
	cell := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	h.tr.waitIOPub(t, cell, []string{"status:busy", "execute_input"})

	pause := h.send(t, protocol.Control, "debug_request", debugRequest("pause", 7))
	r := h.tr.waitReply(t, pause)
	require.Equal(t, "debug_reply", r["_msg_type"])
	require.Equal(t, true, r["success"])
	require.EqualValues(t, 7, r["request_seq"])
	h.tr.waitIOPub(t, pause, []string{"status:busy", "status:idle"})
	require.Eventually(t, func() bool {
		for _, m := range h.tr.publishedFor("") {
			if m.Header.MsgType == "debug_event" {
				var ev map[string]any
				require.NoError(t, json.Unmarshal(m.Content, &ev))
				return ev["event"] == "stopped"
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)

	info := h.send(t, protocol.Control, "kernel_info_request", map[string]any{})
	require.Equal(t, "kernel_info_reply", h.tr.waitReply(t, info)["_msg_type"])
	close(h.interp(0).block)
	require.Equal(t, "ok", h.tr.waitReply(t, cell)["status"])
}

// A debug_request that waits for the interpreter (a cell running without
// stopping) holds neither kernel_info nor interrupt on control; the ones
// behind it keep their order.
func TestAWaitingDebugRequestDoesNotHoldControl(t *testing.T) {
	h := newHarness(t)
	cell := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	h.tr.waitIOPub(t, cell, []string{"status:busy", "execute_input"})
	hang := h.send(t, protocol.Control, "debug_request", debugRequest("hang", 1))
	after := h.send(t, protocol.Control, "debug_request", debugRequest("threads", 2))

	info := h.send(t, protocol.Control, "kernel_info_request", map[string]any{})
	require.Equal(t, "kernel_info_reply", h.tr.waitReply(t, info)["_msg_type"])
	intr := h.send(t, protocol.Control, "interrupt_request", map[string]any{})
	require.Equal(t, "ok", h.tr.waitReply(t, intr)["status"])

	close(h.interp(0).block)
	require.EqualValues(t, 1, h.tr.waitReply(t, hang)["request_seq"])
	require.EqualValues(t, 2, h.tr.waitReply(t, after)["request_seq"])
	h.tr.mu.Lock()
	var order []string
	for _, m := range h.tr.sent {
		if m.Header.MsgType == "debug_reply" {
			order = append(order, m.ParentHeader.MsgID)
		}
	}
	h.tr.mu.Unlock()
	require.Equal(t, []string{hang, after}, order)
}

// A request that is not a DAP request is answered with a DAP failure; the
// interpreter never sees it.
func TestMalformedDebugRequestGetsAFailure(t *testing.T) {
	h := newHarness(t)
	for _, c := range []map[string]any{
		{"type": "event", "seq": 1, "command": "x"},
		{"type": "request", "seq": 2},
		{"type": "request", "seq": 3, "command": "x", "arguments": []int{1}},
	} {
		id := h.send(t, protocol.Control, "debug_request", c)
		r := h.tr.waitReply(t, id)
		require.Equal(t, "debug_reply", r["_msg_type"])
		require.Equal(t, false, r["success"], c)
		require.Equal(t, "response", r["type"])
	}
}
