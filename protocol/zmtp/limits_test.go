package zmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

// assertClosedByServer waits for the server to close nc: a read ends with
// EOF or a reset, not with our own timeout.
func assertClosedByServer(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

// kernelInfo sends a signed kernel_info_request on c and checks the reply.
func kernelInfo(t *testing.T, ts *testServer, c *zconn) {
	t.Helper()
	req, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, c.write(w.Frames, false, 5*time.Second))
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	frames, _, err := readTest(c.br)
	require.NoError(t, err)
	got, err := protocol.Decode(frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, req.Header.MsgID, got.ParentHeader.MsgID)
}

// drainSeen keeps the echo handler from blocking on its record of
// messages.
func drainSeen(t *testing.T, h *echoHandler) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-h.seen:
			case <-done:
				return
			}
		}
	}()
}

func TestDefaultLimits(t *testing.T) {
	l := Limits{}.withDefaults()
	assert.Equal(t, DefaultLimits(), l)
	assert.EqualValues(t, 100, Limits{MaxFrame: 500, MaxMessage: 100}.withDefaults().MaxFrame,
		"a frame can never be larger than the message")
	side := sideLimits(l)
	assert.EqualValues(t, maxHandshakeFrame, side.MaxMessage)
}

func TestConnectionCap(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxConnections = 4
	ts, h := startEchoLimits(t, "tcp", lim)
	drainSeen(t, h)
	addr := fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort)
	client := rawClient(t, addr, zmq4.Dealer, "client")
	kernelInfo(t, ts, client)

	// Three more fill the socket; the next forty are closed at once,
	// before a handshake (a plain TCP connect is enough to take a slot).
	var flood []net.Conn
	for range 43 {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = nc.Close() })
		flood = append(flood, nc)
	}
	closed := 0
	for _, nc := range flood {
		_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := io.Copy(io.Discard, nc)
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			closed++
		}
	}
	// The kept ones got the server's greeting and are waiting for ours;
	// the refused ones read EOF.
	assert.Equal(t, 40, closed, "connections beyond the cap are closed")
	assert.Contains(t, ts.logs.String(), "too many connections")
	assert.LessOrEqual(t, strings.Count(ts.logs.String(), "too many connections"), logBurst, "a flood is counted, not logged line by line")

	kernelInfo(t, ts, client)

	// A slot freed is a slot taken again.
	for _, nc := range flood {
		_ = nc.Close()
	}
	require.Eventually(t, func() bool {
		sk := ts.shell.socket
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return len(sk.raw) == 1
	}, 15*time.Second, 10*time.Millisecond)
	kernelInfo(t, ts, rawClient(t, addr, zmq4.Dealer, "later"))
}

func TestUnverifiedBudgetIsShared(t *testing.T) {
	lim := DefaultLimits()
	lim.Unverified = 1 << 20
	ts, h := startEchoLimits(t, "tcp", lim)
	drainSeen(t, h)
	addr := fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort)
	client := rawClient(t, addr, zmq4.Dealer, "client")
	kernelInfo(t, ts, client) // a signed request: the client is verified

	// An unverified peer sends 800 KiB of a message that never ends.
	hog := rawClient(t, addr, zmq4.Dealer)
	_, err := hog.nc.Write(append(header(flagMore, 800<<10), make([]byte, 800<<10)...))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return ts.budget.used.Load() == 800<<10 }, 5*time.Second, time.Millisecond)

	// A second one, on another socket, does not get the rest: the budget
	// is the server's, not the connection's or the socket's.
	other := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ControlPort), zmq4.Dealer)
	_, err = other.nc.Write(header(flagMore, 300<<10))
	require.NoError(t, err)
	assertClosedByServer(t, other.nc)
	assert.Contains(t, ts.logs.String(), "budget for unverified peers")

	// The verified client is not held to the budget: a 3 MiB message
	// (a widget's binary buffer) goes through.
	m, err := protocol.NewMessage(nil, "client", "kernel_info_request", nil)
	require.NoError(t, err)
	m.Buffers = [][]byte{make([]byte, 3<<20)}
	frames, err := protocol.Encode(m, ts.signer)
	require.NoError(t, err)
	require.NoError(t, client.write(frames, false, 5*time.Second))
	_ = client.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = readTest(client.br)
	require.NoError(t, err)

	// A fresh unverified client with a small request still fits.
	kernelInfo(t, ts, rawClient(t, addr, zmq4.Dealer, "fresh"))

	// When the hog goes, its bytes go back.
	hog.close()
	require.Eventually(t, func() bool { return ts.budget.used.Load() == 0 }, 5*time.Second, time.Millisecond)
}

func TestReplayedKernelMessageDoesNotVerify(t *testing.T) {
	ts, h := startEchoLimits(t, "tcp", DefaultLimits())
	drainSeen(t, h)
	// Any subscriber receives messages signed by the kernel. Sent back on
	// shell, such a message passes Decode, but proves nothing.
	c := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort), zmq4.Dealer, "replayer")
	status, err := protocol.Encode(statusMsg(t, nil, "idle"), ts.signer)
	require.NoError(t, err)
	require.NoError(t, c.write(status, false, time.Second))
	// The echo handler answers it ("status_reply"), which shows it was
	// decoded; the connection stays unverified.
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = readTest(c.br)
	require.NoError(t, err)
	ts.shell.mu.Lock()
	peer := ts.shell.peers["replayer"]
	ts.shell.mu.Unlock()
	require.NotNil(t, peer)
	assert.False(t, peer.trusted.Load(), "a replayed kernel message must not lift the budget")

	kernelInfo(t, ts, c)
	assert.True(t, peer.trusted.Load(), "a signed request does")
}

func TestSlowMessageIsCutOff(t *testing.T) {
	lim := DefaultLimits()
	lim.MessageTime = 300 * time.Millisecond
	ts, h := startEchoLimits(t, "tcp", lim)
	drainSeen(t, h)
	addr := fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort)

	// Slowloris: the start of a message, then a byte now and then.
	c := rawClient(t, addr, zmq4.Dealer)
	start := time.Now()
	_, err := c.nc.Write(append(frame(flagMore, "<IDS|MSG>"), header(0, 1000)...))
	require.NoError(t, err)
	go func() {
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.nc.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	assertClosedByServer(t, c.nc)
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "the message's deadline is not moved by trickling bytes")
	require.Eventually(t, func() bool { return ts.budget.used.Load() == 0 }, 5*time.Second, time.Millisecond)

	// An idle connection between messages is not cut off.
	idle := rawClient(t, addr, zmq4.Dealer, "idle")
	time.Sleep(2 * lim.MessageTime)
	kernelInfo(t, ts, idle)
}

func TestSubscriberByteBound(t *testing.T) {
	lim := DefaultLimits()
	lim.SubscriberBytes = 2 << 20
	ts, _ := startEchoLimits(t, "tcp", lim)
	// A subscriber that never reads, with a small receive buffer.
	stalled := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.IOPubPort), zmq4.Sub)
	require.NoError(t, stalled.nc.(*net.TCPConn).SetReadBuffer(4096))
	require.NoError(t, stalled.write([][]byte{{1}}, false, time.Second))
	require.Eventually(t, func() bool { return ts.iopub.subscribed() == 1 }, 5*time.Second, time.Millisecond)
	sub := subscribe(t, ts)

	// 64 × 256 KiB: far more than the bound, far fewer messages than the
	// outbox holds, so only the byte bound can drop the stalled one.
	big := strings.Repeat("x", 256<<10)
	got := make(chan int)
	go func() {
		n := 0
		for range 65 {
			if _, err := sub.Recv(); err != nil {
				break
			}
			n++
		}
		got <- n
	}()
	for i := range 64 {
		m, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{"data": map[string]any{"text/plain": big}, "i": i})
		require.NoError(t, err)
		ts.Publish(m)
	}
	// One larger than the bound still reaches a subscriber that keeps up.
	huge, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{"data": map[string]any{"text/plain": strings.Repeat("y", 3<<20)}})
	require.NoError(t, err)
	ts.Publish(huge)
	select {
	case n := <-got:
		assert.Equal(t, 65, n, "the reading subscriber got everything")
	case <-time.After(10 * time.Second):
		t.Fatal("the reading subscriber did not get its messages")
	}
	assert.Contains(t, ts.logs.String(), "bytes waiting, limit 2097152")
	require.NoError(t, ts.Flush(context.Background()))
	ts.iopub.mu.Lock()
	defer ts.iopub.mu.Unlock()
	for _, s := range ts.iopub.subs {
		assert.Zero(t, s.bytes.Load(), "nothing left queued")
	}
}

// TestRejectedPeersHandMemoryBack is the attack of #17 against a server
// with the default limits: peers without the key announce 1 GiB frames,
// and more peers send 32 MiB frames of messages that never end.
func TestRejectedPeersHandMemoryBack(t *testing.T) {
	ts, h := startEchoLimits(t, "tcp", DefaultLimits())
	drainSeen(t, h)
	addr := fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort)
	client := rawClient(t, addr, zmq4.Dealer, "client")
	kernelInfo(t, ts, client)
	base := heapAfterGC()

	for range 3 {
		c := rawClient(t, addr, zmq4.Dealer)
		_, err := c.nc.Write(append(header(0, 1<<30), make([]byte, 4<<20)...))
		if err == nil {
			assertClosedByServer(t, c.nc)
		}
	}
	assert.Less(t, heapAfterGC(), base+(8<<20), "1 GiB frame headers cost nothing")

	// Eight peers each send 32 MiB of a message that never ends: two fit
	// in the 64 MiB budget, the others are closed at their header.
	var hogs []*zconn
	chunk := append(header(flagMore, 32<<20), make([]byte, 32<<20)...)
	var writes sync.WaitGroup
	for range 8 {
		c := rawClient(t, addr, zmq4.Dealer)
		hogs = append(hogs, c)
		writes.Go(func() { _, _ = c.nc.Write(chunk) })
	}
	// The two that fit are read whole (their writes end); the others
	// are refused (their writes fail).
	writes.Wait()
	chunk = nil
	assert.EqualValues(t, 64<<20, ts.budget.used.Load())
	held := heapAfterGC()
	t.Logf("live heap with the budget full: %.1f MiB above the start", float64(held-base)/(1<<20))
	assert.Less(t, held, base+(64<<20)+(16<<20), "what unverified peers make the server hold is the budget")
	kernelInfo(t, ts, client)

	for _, c := range hogs {
		c.close()
	}
	require.Eventually(t, func() bool { return ts.budget.used.Load() == 0 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return ts.reclaim.runs.Load() > 0 }, 5*time.Second, time.Millisecond,
		"memory of abandoned messages is handed back to the OS at once")
	after := heapAfterGC()
	t.Logf("live heap once the peers left: %+.1f MiB from the start", (float64(after)-float64(base))/(1<<20))
	assert.Less(t, after, base+(8<<20))
	kernelInfo(t, ts, client)
}

func TestLogLimiter(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	var l logLimiter
	for range 1000 {
		l.warn(log, "refused")
	}
	assert.Equal(t, logBurst, strings.Count(logs.String(), "refused"), "a burst is logged, a flood is counted")
	l.mu.Lock()
	l.window = time.Now().Add(-time.Second)
	l.mu.Unlock()
	l.warn(log, "again")
	assert.Contains(t, logs.String(), fmt.Sprintf("suppressed_before=%d", 1000-logBurst))
}

func TestReplayedCommMessageIsRefused(t *testing.T) {
	ts, h := startEcho(t, "tcp")
	sub := subscribe(t, ts)
	open, err := protocol.NewMessage(nil, "k", "comm_open", map[string]any{"comm_id": "c1", "target_name": "t", "data": map[string]any{}})
	require.NoError(t, err)
	ts.Publish(open)
	got := recv(t, sub)

	// What the subscriber received, sent back on shell without its topic.
	c := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort), zmq4.Dealer, "replayer")
	require.NoError(t, c.write(got.Frames[1:], false, time.Second))
	// A client's own comm_msg goes through.
	mine, w := ts.request(t, "comm_msg", map[string]any{"comm_id": "c1", "data": map[string]any{}})
	require.NoError(t, c.write(w.Frames, false, time.Second))
	select {
	case m := <-h.seen:
		assert.Equal(t, mine.Header.MsgID, m.Header.MsgID, "the replayed comm_open reached the handler")
	case <-time.After(5 * time.Second):
		t.Fatal("the client's comm_msg was not handled")
	}
	assert.Contains(t, ts.logs.String(), "replayed")
}

func TestSentIDsForgetsOldest(t *testing.T) {
	s := newSentIDs(3)
	for _, id := range []string{"a", "b", "c", "a", "d"} {
		s.add(id)
	}
	assert.False(t, s.has("a"), "the oldest is forgotten first")
	for _, id := range []string{"b", "c", "d"} {
		assert.True(t, s.has(id), id)
	}
	assert.Len(t, s.ids, 3)
}

func TestSentIDsGrowsWithUse(t *testing.T) {
	// An idle kernel holds no replay guard worth the name: the ring and map
	// grow with the comm messages sent, up to the bound.
	s := newSentIDs(replayGuardSize)
	assert.Empty(t, s.ring)
	s.add("a")
	s.add("b")
	assert.Len(t, s.ring, 2)
	assert.Len(t, s.ids, 2)
	assert.True(t, s.has("a") && s.has("b"))
}
