package kernel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/protocol"
)

func inPlace(o *Options) { o.RestartInPlace = true }

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.interps)
}

// restart sends shutdown_request{restart: true} on control and waits for
// its reply.
func (h *harness) restart(t *testing.T) {
	t.Helper()
	id := h.send(t, protocol.Control, "shutdown_request", map[string]any{"restart": true})
	r := h.tr.waitReply(t, id)
	require.Equal(t, "shutdown_reply", r["_msg_type"])
	require.Equal(t, true, r["restart"])
	h.tr.waitIOPub(t, id, []string{"status:busy", "shutdown_reply", "status:idle"})
}

func TestRestartInPlaceStartsTheSessionOver(t *testing.T) {
	store, err := history.Open(t.TempDir())
	require.NoError(t, err)
	defer store.Close()
	sess, err := store.NewSession()
	require.NoError(t, err)
	h := newHarness(t, inPlace, func(o *Options) { o.History = sess })
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
	h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
	closed := make(chan struct{})
	c, err := h.k.Comms().Open("t", nil, nil, nil)
	require.NoError(t, err)
	c.OnClose(func(comm.Message) { close(closed) })

	h.restart(t)
	r := h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
	require.EqualValues(t, 1, r["execution_count"], "the count starts over")
	require.Equal(t, 2, h.count(), "a fresh interpreter")
	select {
	case <-h.k.Done():
		t.Fatal("the kernel ended: an in-place restart keeps it")
	default:
	}
	h.interp(0).mu.Lock()
	require.True(t, h.interp(0).closed, "the old interpreter is closed")
	h.interp(0).mu.Unlock()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("a Go comm was not closed by the restart")
	}
	require.ErrorIs(t, c.Send(nil, nil, nil), comm.ErrClosed)
	// "starting", with no parent, as a fresh process's first status.
	require.Contains(t, h.tr.iopub(""), "status:starting")
	// History: the new cell is line 1 of a new session; tail still shows
	// the old session's cells before it, as IPython's does.
	hr := h.tr.waitReply(t, h.send(t, protocol.Shell, "history_request", map[string]any{
		"hist_access_type": "tail", "n": 10, "output": false, "raw": true,
	}))
	old := float64(sess.Number())
	require.Equal(t, []any{
		[]any{old, 1.0, "x"}, []any{old, 2.0, "x"}, []any{old + 1, 1.0, "x"},
	}, hr["history"], "the restart begins a new history session")
}

func TestRestartInPlaceStopsARunningCellWithoutReply(t *testing.T) {
	h := newHarness(t, inPlace)
	blocker := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "block"})
	require.Eventually(t, func() bool { return len(h.tr.iopub(blocker)) >= 2 }, 5*time.Second, time.Millisecond)
	queued := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	h.restart(t)
	after := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"})
	start := time.Now()
	r := h.tr.waitReply(t, after)
	require.EqualValues(t, 1, r["execution_count"])
	require.GreaterOrEqual(t, time.Since(start), restartGrace/2, "the cell that ignored the interrupt had its grace")
	// The cell the restart stopped, and the request the old kernel had
	// queued, end unanswered with the old session, as with ipykernel.
	h.tr.mu.Lock()
	for _, m := range h.tr.sent {
		require.NotEqual(t, blocker, m.ParentHeader.MsgID, "a reply to the stopped cell")
		require.NotEqual(t, queued, m.ParentHeader.MsgID, "a reply to a request queued before the restart")
	}
	h.tr.mu.Unlock()
	require.Equal(t, []string{"status:busy", "execute_input"}, h.tr.iopub(blocker), "no idle for the stopped cell")
	require.Empty(t, h.tr.iopub(queued))
	require.Equal(t, 2, h.count())
}

func TestRestartInPlaceEndsAWaitingInput(t *testing.T) {
	h := newHarness(t, inPlace)
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "input"})
	require.Eventually(t, func() bool {
		h.tr.mu.Lock()
		defer h.tr.mu.Unlock()
		for _, m := range h.tr.sent {
			if m.Header.MsgType == "input_request" {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)
	h.restart(t)
	// The question ended as an interrupt ends it, within the grace, so the
	// cell ended with its own reply.
	r := h.tr.waitReply(t, id)
	require.Equal(t, "execute_reply", r["_msg_type"])
	next := h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
	require.EqualValues(t, 1, next["execution_count"])
}

func TestRestartWithoutInPlaceEndsTheKernel(t *testing.T) {
	h := newHarness(t)
	h.tr.waitReply(t, h.send(t, protocol.Control, "shutdown_request", map[string]any{"restart": true}))
	select {
	case <-h.k.Done():
	case <-time.After(time.Second):
		t.Fatal("without RestartInPlace a restart must end the kernel (the client launches a new one)")
	}
	require.Equal(t, 1, h.count())
}

func TestManyRestartsInPlace(t *testing.T) {
	h := newHarness(t, inPlace)
	for i := range 20 {
		h.restart(t)
		r := h.tr.waitReply(t, h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "x"}))
		require.EqualValues(t, 1, r["execution_count"], "restart %d", i)
	}
	require.Equal(t, 21, h.count())
	for i := range 20 {
		h.interp(i).mu.Lock()
		require.True(t, h.interp(i).closed, "interpreter %d left running", i)
		h.interp(i).mu.Unlock()
	}
}
