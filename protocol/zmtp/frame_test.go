package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func wire(parts ...[]byte) *bufio.Reader {
	return bufio.NewReader(bytes.NewReader(bytes.Join(parts, nil)))
}

// testLimits are the default read limits, with no budget and no deadline.
func testLimits() *readLimits {
	l := DefaultLimits()
	return &readLimits{maxFrame: uint64(l.MaxFrame), maxMessage: uint64(l.MaxMessage), msgTime: l.MessageTime}
}

// readTest reads one message under testLimits.
func readTest(br *bufio.Reader) ([][]byte, bool, error) {
	frames, cmd, held, err := readMsg(br, testLimits())
	if held != 0 {
		panic("nothing may be charged without a budget")
	}
	return frames, cmd, err
}

func frame(flags byte, body string) []byte {
	return append(appendFrameHeader(nil, flags, len(body)), body...)
}

func TestReadMsg(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), 300))
	br := wire(
		frame(flagMore, "a"), frame(flagMore, ""), frame(0, long),
		frame(flagCommand, "\x04PING\x00\x00"),
		frame(0, "last"),
	)
	frames, cmd, err := readTest(br)
	require.NoError(t, err)
	assert.False(t, cmd)
	assert.Equal(t, [][]byte{[]byte("a"), {}, []byte(long)}, frames)

	frames, cmd, err = readTest(br)
	require.NoError(t, err)
	assert.True(t, cmd)
	assert.Equal(t, "\x04PING\x00\x00", string(frames[0]))

	frames, _, err = readTest(br)
	require.NoError(t, err)
	assert.Equal(t, "last", string(frames[0]))

	_, _, err = readTest(br)
	assert.ErrorIs(t, err, io.EOF)
}

func TestReadMsgErrors(t *testing.T) {
	huge := binary.BigEndian.AppendUint64([]byte{flagLong}, 1<<40)
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"reserved bits":        {frame(0x80, "x"), errProtocol},
		"command inside msg":   {append(frame(flagMore, "a"), frame(flagCommand, "\x04PING")...), errProtocol},
		"command with more":    {frame(flagCommand|flagMore, "\x04PING"), errProtocol},
		"huge frame":           {huge, errTooLarge},
		"huge command":         {binary.BigEndian.AppendUint64([]byte{flagLong | flagCommand}, 1<<40), errProtocol},
		"truncated body":       {[]byte{0, 5, 'a'}, io.ErrUnexpectedEOF},
		"truncated long size":  {[]byte{flagLong, 0, 0}, io.ErrUnexpectedEOF},
		"truncated after more": {frame(flagMore, "a"), io.ErrUnexpectedEOF},
		"truncated command":    {[]byte{flagCommand, 5, 4}, io.ErrUnexpectedEOF},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := readTest(wire(tc.in))
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestReadMsgTooManyFramesIsDropped(t *testing.T) {
	var parts [][]byte
	for range maxWireFrames + 10 {
		parts = append(parts, frame(flagMore, "f"))
	}
	parts = append(parts, frame(0, "end"), frame(0, "next"))
	br := wire(parts...)
	_, _, err := readTest(br)
	assert.ErrorIs(t, err, errDropped)
	frames, _, err := readTest(br)
	require.NoError(t, err, "the connection goes on with the next message")
	assert.Equal(t, "next", string(frames[0]))
}

func TestReadBodyGrowsWithData(t *testing.T) {
	data := bytes.Repeat([]byte("y"), 3*growChunk+7)
	b, err := readBody(bytes.NewReader(data), uint64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, data, b)
	_, err = readBody(bytes.NewReader(data[:10]), 1<<40)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a lying size costs only what arrives")
}

func TestGuardRejectsHugeHandshakeFrame(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	go func() {
		var g [greetingSize]byte
		g[0], g[9], g[10] = 0xff, 0x7f, 3
		copy(g[12:], "NULL")
		_, _ = client.Write(g[:])
		_, _ = client.Write(binary.BigEndian.AppendUint64([]byte{flagLong | flagCommand}, 1<<40))
	}()
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := zmq4.Open(&guardConn{Conn: server, greeting: greetingSize}, null.Security(), zmq4.Router, zmq4.SocketIdentity("k"), true, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, errProtocol), "%v", err)
}

func TestListenEndpoint(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", "tcp://*:0", "tcp://:*", "tcp://0.0.0.0:0"} {
		ln, err := listenEndpoint(ep)
		require.NoError(t, err, ep)
		require.NoError(t, ln.Close())
	}
	for _, ep := range []string{"127.0.0.1:1", "udp://127.0.0.1:1", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "ipc://"} {
		_, err := listenEndpoint(ep)
		assert.Error(t, err, ep)
	}

	// A stale ipc socket file is replaced; a live one is not.
	path := t.TempDir() + "/s"
	ln, err := listenEndpoint("ipc://" + path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only the owner may connect, whatever the umask")
	_, err = listenEndpoint("ipc://" + path)
	assert.Error(t, err, "someone listens there")
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	ln, err = listenEndpoint("ipc://" + path)
	require.NoError(t, err, "stale socket file removed")
	require.NoError(t, ln.Close())
}

// header returns the header of a frame of size bytes, without its body.
func header(flags byte, size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{flags | flagLong}, size)
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestReadMsgSizeCapsBeforeAllocation(t *testing.T) {
	lim := &readLimits{maxFrame: 1000, maxMessage: 1500}
	cases := map[string][]byte{
		// Only headers are on the wire: the error must come from the
		// header, not from the missing body.
		"frame over cap":   header(0, 1001),
		"message over cap": append(frame(flagMore, string(make([]byte, 800))), header(0, 800)...),
		"size wraps":       append(frame(flagMore, "ab"), header(0, 1<<64-1)...),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := readMsg(wire(in), lim)
			assert.ErrorIs(t, err, errTooLarge)
		})
	}
	frames, _, _, err := readMsg(wire(frame(flagMore, string(make([]byte, 1000))), frame(0, string(make([]byte, 500)))), lim)
	require.NoError(t, err, "exactly at both caps is accepted")
	assert.Len(t, frames, 2)
}

func TestReadMsgHugeFrameCostsNothing(t *testing.T) {
	// The attack of #17: a 1 GiB frame header followed by data. It is
	// refused from its header; what the reader allocated is a few bytes.
	br := wire(header(0, 1<<30), make([]byte, 4<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := readMsg(br, testLimits())
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, errTooLarge)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "bytes allocated for a refused frame")
}

func TestReadMsgChargesBudget(t *testing.T) {
	b := &budget{max: 100}
	lim := testLimits()
	lim.budget = b
	br := wire(
		frame(flagMore, string(make([]byte, 60))), frame(0, string(make([]byte, 30))),
		frame(0, string(make([]byte, 20))),
	)
	frames, _, held, err := readMsg(br, lim)
	require.NoError(t, err)
	assert.Len(t, frames, 2)
	assert.EqualValues(t, 90, held)
	assert.EqualValues(t, 90, b.used.Load(), "held until the caller gives it back")

	_, _, held, err = readMsg(br, lim)
	assert.ErrorIs(t, err, errTooLarge, "20 more bytes do not fit in what is left")
	assert.Zero(t, held)
	assert.EqualValues(t, 90, b.used.Load(), "the refused message keeps nothing charged")
	b.give(90)

	// A message abandoned halfway gives back what its first frames took.
	_, _, _, err = readMsg(wire(frame(flagMore, string(make([]byte, 50)))), lim)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Zero(t, b.used.Load())

	// Too many frames: read to the end and dropped, nothing charged
	// (with a budget large enough for the frames before the cut).
	b = &budget{max: 1 << 20}
	lim.budget = b
	var parts [][]byte
	for range maxWireFrames + 1 {
		parts = append(parts, frame(flagMore, "f"))
	}
	parts = append(parts, frame(0, "end"))
	_, _, _, err = readMsg(wire(parts...), lim)
	assert.ErrorIs(t, err, errDropped)
	assert.Zero(t, b.used.Load())
}

func TestBudgetTakeIsAtomic(t *testing.T) {
	b := &budget{max: 1000}
	var wg sync.WaitGroup
	var got atomic.Int64
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if b.take(7) {
					got.Add(7)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, got.Load(), b.used.Load())
	assert.LessOrEqual(t, b.used.Load(), int64(1000))
	assert.Greater(t, b.used.Load(), int64(1000-7), "the budget fills up to its last whole take")
}

func TestReadMsgMessageDeadline(t *testing.T) {
	var sets []time.Time
	lim := testLimits()
	lim.msgTime = 10 * time.Second
	lim.deadline = func(t time.Time) { sets = append(sets, t) }
	big := string(make([]byte, 3<<20))
	start := time.Now()
	_, _, _, err := readMsg(wire(frame(flagMore, "a"), frame(0, big)), lim)
	require.NoError(t, err)
	require.Len(t, sets, 3, "set at the first byte, extended for the 3 MiB frame, cleared at the end")
	assert.WithinDuration(t, start.Add(10*time.Second), sets[0], time.Second)
	assert.WithinDuration(t, start.Add(13*time.Second), sets[1], time.Second)
	assert.True(t, sets[2].IsZero(), "no deadline between messages: an idle client is fine")

	// Many frames under a MiB each earn their time too.
	sets = nil
	half := string(make([]byte, 512<<10))
	_, _, _, err = readMsg(wire(frame(flagMore, half), frame(flagMore, half), frame(flagMore, half), frame(0, half)), lim)
	require.NoError(t, err)
	require.Len(t, sets, 4, "set, extended at 1 MiB and at 2 MiB, cleared")
	assert.WithinDuration(t, time.Now().Add(12*time.Second), sets[2], time.Second)
}

func TestReadBodyAllocatesAtMostTwice(t *testing.T) {
	size := 8<<20 + 1
	data := bytes.Repeat([]byte("z"), size)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := readBody(bytes.NewReader(data), uint64(size))
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, data, b)
	assert.Equal(t, size, cap(b), "the final buffer is exactly the frame")
	// 1+2+4+8 MiB on the way, then the frame: under three times its
	// size in all, and never more than twice its size alive at once.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(3*size))
}
