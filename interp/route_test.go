package interp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
)

func TestReplyAnswersOnlyItsCallAndOnce(t *testing.T) {
	p := detachedProcess()
	defer p.hostCancel()
	p.mu.Lock()
	id := p.newCallID()
	c := &call{id: id, reply: make(chan *guestproto.Message, 1)}
	p.calls[id] = c
	p.mu.Unlock()
	hello := make(chan json.RawMessage, 1)

	// Guessed ids (the small integers the host used to count with) answer nothing.
	for i := int64(0); i < 300; i++ {
		p.route([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":{"forged":true}}`, i)), hello)
	}
	require.Empty(t, c.reply)
	require.Equal(t, 300, p.log.dropped())

	// The right id answers once; a duplicate is dropped without blocking.
	p.route([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":1}`, id)), hello)
	done := make(chan struct{})
	go func() {
		p.route([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":2}`, id)), hello)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a duplicate reply blocked the reader")
	}
	r := <-c.reply
	require.JSONEq(t, `1`, string(r.Content))
	require.Empty(t, c.reply)
	require.Equal(t, 301, p.log.dropped())
}

func TestCallIDsAreRandomAndUnique(t *testing.T) {
	p := detachedProcess()
	seen := map[int64]bool{}
	for i := 0; i < 1000; i++ {
		id := p.newCallID()
		require.NotZero(t, id)
		require.Less(t, id, int64(1)<<53)
		require.False(t, seen[id])
		seen[id] = true
		p.calls[id] = &call{}
	}
	// Not a counter: ids below a million would be a guessable sequence.
	small := 0
	for id := range seen {
		if id < 1_000_000 {
			small++
		}
	}
	require.Less(t, small, 5)
}

func TestHostRequestsAreBounded(t *testing.T) {
	p := detachedProcess()
	defer p.hostCancel()
	release := make(chan struct{})
	var waiting atomic.Int32
	p.SetHostHandler(func(ctx context.Context, method string, _ json.RawMessage, _ [][]byte) (any, [][]byte, error) {
		waiting.Add(1)
		<-release // a host that answers slowly (input(), a slow Go call)
		return "ok", nil, nil
	})
	hello := make(chan json.RawMessage, 1)
	start := time.Now()
	for i := 0; i < 5000; i++ {
		p.route([]byte(fmt.Sprintf(`{"type":"host_request","rid":%d,"method":"input","content":{}}`, i)), hello)
	}
	require.Less(t, time.Since(start), 5*time.Second, "routing host requests must not wait for them")
	p.outMu.Lock()
	busy, refusals, queued := p.hostBusy, p.refusals, len(p.outq)
	p.outMu.Unlock()
	require.Equal(t, maxHostRequests, busy)
	require.Equal(t, maxRefusals, refusals)
	require.Equal(t, maxRefusals, queued, "only the refusals are answered while the host is busy")
	require.GreaterOrEqual(t, p.log.dropped(), 5000-maxHostRequests)
	m, err := guestproto.Decode(bytes.Join(p.outq[0].parts, nil))
	require.NoError(t, err)
	require.Equal(t, guestproto.HostReply, m.Type)
	require.Contains(t, m.Error.Message, "too many")

	// Written answers give their slots back.
	require.Eventually(t, func() bool { return waiting.Load() == maxHostRequests }, 5*time.Second, time.Millisecond)
	close(release)
	require.Eventually(t, func() bool {
		p.outMu.Lock()
		defer p.outMu.Unlock()
		return len(p.outq) == maxRefusals+maxHostRequests
	}, 5*time.Second, time.Millisecond)
	p.outMu.Lock()
	batch := p.outq
	p.outq = nil
	p.outMu.Unlock()
	for _, f := range batch {
		f.sent()
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	require.Zero(t, p.hostBusy)
	require.Zero(t, p.refusals)
}

// A guest that writes thousands of host requests and never reads the
// answers backs up the kernel → worker pipe; interrupts must still get
// through at once, and the session must survive them.
func TestInterruptGetsThroughUnreadHostRequests(t *testing.T) {
	p := startTest(t)
	p.SetHostHandler(func(ctx context.Context, method string, _ json.RawMessage, _ [][]byte) (any, [][]byte, error) {
		return nil, nil, fmt.Errorf("no %s here", method)
	})
	_, _ = execute(t, p, "kept = 7")
	code := `import os, struct, json
fd = os.open("/.wasipy/host/channel", os.O_RDWR)
for i in range(5000):
    data = json.dumps({"type": "host_request", "rid": 10**9 + i, "method": "input", "content": {}}).encode()
    os.write(fd, struct.pack(">I", len(data)) + data)
print("flooded", flush=True)
while True:
    pass
`
	rec := &recorder{}
	type result struct {
		raw json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := p.Call(context.Background(), "execute", map[string]any{"code": code}, rec.add)
		done <- result{raw, err}
	}()
	require.Eventually(t, func() bool { return strings.Contains(rec.stream("stdout"), "flooded") }, 60*time.Second, 10*time.Millisecond)
	t0 := time.Now()
	require.NoError(t, p.Interrupt())
	require.Less(t, time.Since(t0), time.Second, "Interrupt() waited")
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Contains(t, string(r.raw), "KeyboardInterrupt")
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupt did not end the cell")
	}
	t.Logf("interrupt to reply: %v", time.Since(t0))
	reply, _ := execute(t, p, "kept * 6")
	require.Equal(t, "ok", reply["status"], reply)
}
