package kernel

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

// The abort window behaves as ipykernel's: the failed cell's execute_reply
// and its idle status come first; then the requests that were queued behind
// it, in order, each between its own busy and idle: execute_requests
// answered "aborted", other requests served. A request sent after the
// failure runs normally.
func TestAbortWindowKeepsFIFOOrder(t *testing.T) {
	h := newHarness(t)
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	failing := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "error"})
	queued1 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	info := h.send(t, protocol.Shell, "kernel_info_request", map[string]any{})
	complete := h.send(t, protocol.Shell, "complete_request", map[string]any{"code": "a", "cursor_pos": 1})
	queued2 := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	close(h.interp(0).block)
	require.Equal(t, "aborted", h.tr.waitReply(t, queued2)["status"])
	h.tr.waitIOPub(t, queued2, []string{"status:busy", "status:idle"})
	after := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	require.Equal(t, "ok", h.tr.waitReply(t, after)["status"])

	name := map[string]string{blocker: "blocker", failing: "failing", queued1: "queued1", info: "info", complete: "complete", queued2: "queued2", after: "after"}
	var got []string
	h.tr.mu.Lock()
	for _, m := range h.tr.order {
		who := name[m.ParentHeader.MsgID]
		if who == "" || who == "blocker" || who == "after" {
			continue
		}
		switch m.Header.MsgType {
		case "status":
			var c struct {
				State string `json:"execution_state"`
			}
			require.NoError(t, json.Unmarshal(m.Content, &c))
			got = append(got, who+" "+c.State)
		case "execute_reply":
			var c struct {
				Status string `json:"status"`
			}
			require.NoError(t, json.Unmarshal(m.Content, &c))
			got = append(got, fmt.Sprintf("%s reply %s", who, c.Status))
		case "kernel_info_reply", "complete_reply":
			got = append(got, who+" reply")
		}
	}
	h.tr.mu.Unlock()
	require.Equal(t, []string{
		"failing busy", "failing reply error", "failing idle",
		"queued1 busy", "queued1 reply aborted", "queued1 idle",
		"info busy", "info reply", "info idle",
		"complete busy", "complete reply", "complete idle",
		"queued2 busy", "queued2 reply aborted", "queued2 idle",
	}, got)
}

// A silent cell that fails aborts nothing (ipykernel aborts only after a
// cell that is not silent), nor does one sent with stop_on_error false.
func TestSilentOrNonStoppingFailureAbortsNothing(t *testing.T) {
	h := newHarness(t)
	for _, content := range []map[string]any{
		{"code": "error", "silent": true},
		{"code": "error", "stop_on_error": false},
	} {
		blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
		failing := h.send(t, protocol.Shell, "execute_request", content)
		next := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
		close(h.interp(0).block)
		require.Equal(t, "ok", h.tr.waitReply(t, blocker)["status"])
		require.Equal(t, "error", h.tr.waitReply(t, failing)["status"])
		require.Equal(t, "ok", h.tr.waitReply(t, next)["status"], "after %v", content)
		h.tr.waitIOPub(t, next, []string{"status:busy", "execute_input", "status:idle"})
		h.interp(0).block = make(chan struct{}) // no cell runs: the fake reads it only in Execute
	}
}
