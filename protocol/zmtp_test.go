package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
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
	frames, cmd, err := readMsg(br)
	require.NoError(t, err)
	assert.False(t, cmd)
	assert.Equal(t, [][]byte{[]byte("a"), {}, []byte(long)}, frames)

	frames, cmd, err = readMsg(br)
	require.NoError(t, err)
	assert.True(t, cmd)
	assert.Equal(t, "\x04PING\x00\x00", string(frames[0]))

	frames, _, err = readMsg(br)
	require.NoError(t, err)
	assert.Equal(t, "last", string(frames[0]))

	_, _, err = readMsg(br)
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
		"truncated after more": {frame(flagMore, "a"), io.EOF},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := readMsg(wire(tc.in))
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
	_, _, err := readMsg(br)
	assert.ErrorIs(t, err, errDropped)
	frames, _, err := readMsg(br)
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
	_, err = listenEndpoint("ipc://" + path)
	assert.Error(t, err, "someone listens there")
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	ln, err = listenEndpoint("ipc://" + path)
	require.NoError(t, err, "stale socket file removed")
	require.NoError(t, ln.Close())
}
