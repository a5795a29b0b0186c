package interp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

func TestReplyAnswersOnlyItsCallAndOnce(t *testing.T) {
	p := detachedProcess()
	defer p.hostCancel()
	p.mu.Lock()
	id := p.newCallID()
	c := &call{id: id, reply: make(chan *guestMessage, 1)}
	p.calls[id] = c
	p.mu.Unlock()
	hello := make(chan json.RawMessage, 1)

	// Guessed ids (the small integers the host used to count with) answer nothing.
	for i := int64(0); i < 300; i++ {
		p.guestMessage([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":{"forged":true}}`, i)), hello)
	}
	require.Empty(t, c.reply)
	require.Equal(t, 300, p.log.dropped())

	// The right id answers once; a duplicate is dropped without blocking.
	p.guestMessage([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":1}`, id)), hello)
	done := make(chan struct{})
	go func() {
		p.guestMessage([]byte(fmt.Sprintf(`{"type":"reply","id":%d,"content":2}`, id)), hello)
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

func TestDecodeGuestMessageRejectsMalformed(t *testing.T) {
	bad := map[string]string{
		"invalid JSON":             `{"type":`,
		"invalid UTF-8":            "{\"type\":\"stream\",\"content\":{\"text\":\"\xff\"}}",
		"no type":                  `{"id":1}`,
		"buffers shorter":          "{\"type\":\"x\",\"buffer_lengths\":[4]}\x00abc",
		"buffers longer":           "{\"type\":\"x\",\"buffer_lengths\":[1]}\x00abc",
		"buffers without NUL":      `{"type":"x","buffer_lengths":[0]}`,
		"negative length":          "{\"type\":\"x\",\"buffer_lengths\":[-1,4]}\x00abc",
		"bytes after NUL, no list": "{\"type\":\"x\"}\x00abc",
		"id not a number":          `{"type":"reply","id":"1"}`,
		"id too large":             `{"type":"reply","id":1e30}`,
	}
	for name, payload := range bad {
		_, err := decodeGuestMessage([]byte(payload))
		require.Error(t, err, name)
	}
	many := `{"type":"x","buffer_lengths":[` + strings.Repeat("0,", maxGuestBuffers) + "0]}\x00"
	_, err := decodeGuestMessage([]byte(many))
	require.ErrorContains(t, err, "over the limit")

	m, err := decodeGuestMessage([]byte("{\"type\":\"comm_msg\",\"buffer_lengths\":[1,2]}\x00abc"))
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), []byte("bc")}, m.buffers)
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
		p.guestMessage([]byte(fmt.Sprintf(`{"type":"host_request","rid":%d,"method":"input","content":{}}`, i)), hello)
	}
	require.Less(t, time.Since(start), 5*time.Second, "routing host requests must not wait for them")
	p.outMu.Lock()
	busy, refusals, queued := p.hostBusy, p.refusals, len(p.outq)
	p.outMu.Unlock()
	require.Equal(t, maxHostRequests, busy)
	require.Equal(t, maxRefusals, refusals)
	require.Equal(t, maxRefusals, queued, "only the refusals are answered while the host is busy")
	require.GreaterOrEqual(t, p.log.dropped(), 5000-maxHostRequests)
	m, err := decodeGuestMessage(p.outq[0].payload)
	require.NoError(t, err)
	require.Equal(t, "host_reply", m.Type)
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

func TestEachChannelFileFramesOnItsOwn(t *testing.T) {
	var got []string
	c := newChannel(func(p []byte) { got = append(got, string(p)) }, nil)
	runtime, cell := &frameWriter{ch: c}, &frameWriter{ch: c}
	// Cell code leaves half a frame (announcing 1 MiB) on its descriptor...
	_, errno := cell.write([]byte{0, 0x10, 0, 0, 'x'})
	require.Zero(t, errno)
	// ...and the runtime's frames still arrive whole.
	_, errno = runtime.write(frameOf([]byte(`{"type":"reply"}`)))
	require.Zero(t, errno)
	require.Equal(t, []string{`{"type":"reply"}`}, got)
	require.Equal(t, 5, c.partial)
	cell.drop() // as Close does
	require.Zero(t, c.partial)

	// A length prefix over the cap is refused before anything is kept.
	n, errno := cell.write([]byte{0xff, 0xff, 0xff, 0xff, 'x'})
	require.Equal(t, experimentalsys.EINVAL, errno)
	require.Zero(t, n)
	require.Zero(t, c.partial)
}

func TestPartialFramesShareOneBudget(t *testing.T) {
	c := newChannel(func([]byte) {}, nil)
	c.budget = 1 << 20 // the same rule as maxPartialBytes, at a test's scale
	hdr := make([]byte, 4)
	binary.BigEndian.PutUint32(hdr, maxGuestFrame)
	chunk := make([]byte, 64<<10)
	fill := func(w *frameWriter, bytes int) experimentalsys.Errno {
		if _, errno := w.write(hdr); errno != 0 {
			return errno
		}
		for left := bytes; left > 0; left -= len(chunk) {
			if _, errno := w.write(chunk[:min(left, len(chunk))]); errno != 0 {
				return errno
			}
		}
		return 0
	}
	a, b := &frameWriter{ch: c}, &frameWriter{ch: c}
	require.Zero(t, fill(a, c.budget-4-1))
	// A second descriptor cannot hold another large frame at the same time.
	require.Equal(t, experimentalsys.EINVAL, fill(b, 256<<10))
	require.LessOrEqual(t, c.partial, c.budget)
	require.Empty(t, b.buf, "the refused writer's frame is dropped")
	a.drop()
	b.drop()
	require.Zero(t, c.partial)
}

func TestInterruptWaitsForItsRequestOnly(t *testing.T) {
	acted := 0
	r := &interruptRelay{act: func() { acted++ }}
	r.delivered() // frame 1
	// An interrupt for request frame 3 that overtook it on its own pipe.
	r.interrupt(3)
	require.Zero(t, acted)
	r.delivered()
	require.Zero(t, acted)
	r.delivered()
	require.Equal(t, 1, acted, "applied once its request reached the guest")
	r.delivered()
	require.Equal(t, 1, acted)
	// One for a request already delivered acts at once.
	r.interrupt(2)
	require.Equal(t, 2, acted)
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
