package kernel

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

func TestGuestExit(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		ok   bool
	}{
		{&GuestExit{Code: 3}, 3, true},
		{fmt.Errorf("call: %w", &GuestExit{Code: 143}), 143, true},
		{errors.New("the interpreter exited (code 1): wasm error: unreachable"), 0, false}, // a trap
		{nil, 0, false},
	} {
		code, ok := guestExit(c.err)
		if code != c.code || ok != c.ok {
			t.Errorf("guestExit(%v) = %d, %v; want %d, %v", c.err, code, ok, c.code, c.ok)
		}
	}
}

// With EndOnExit, a cell whose interpreter exits on its own ends the
// kernel: no reply (the client sees the kernel die), no new interpreter.
func TestEndOnExit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EndOnExit = true })
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "exit"})
	select {
	case <-h.k.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the kernel did not end when its interpreter exited")
	}
	require.Equal(t, 3, h.k.ExitCode())
	time.Sleep(100 * time.Millisecond)
	h.tr.mu.Lock()
	for _, m := range h.tr.sent {
		require.NotEqual(t, id, m.ParentHeader.MsgID, "the cell got a reply (%s)", m.Header.MsgType)
	}
	h.tr.mu.Unlock()
	h.mu.Lock()
	require.Len(t, h.interps, 1, "an interpreter was started after the exit")
	h.mu.Unlock()
}

// Without it, the same cell gets an error reply and a fresh interpreter;
// and with it, a crash (not an exit the code asked for) does not end the
// kernel.
func TestExitWithoutEndOnExit(t *testing.T) {
	h := newHarness(t)
	id := h.send(t, protocol.Shell, "execute_request", map[string]any{"code": "exit"})
	reply := h.tr.waitReply(t, id)
	require.Equal(t, "error", reply["status"])
	select {
	case <-h.k.Ended():
		t.Fatal("the kernel ended without EndOnExit")
	default:
	}
	require.Equal(t, 0, h.k.ExitCode())
}
