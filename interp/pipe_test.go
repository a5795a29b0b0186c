package interp

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUTF8StreamKeepsSplitCharacters(t *testing.T) {
	var u utf8Stream
	text := "añ€😀z"
	b := []byte(text)
	var out string
	for i := range b { // one byte at a time: every character is split
		out += u.decode(b[i : i+1])
	}
	out += u.flush()
	require.Equal(t, text, out)

	u = utf8Stream{}
	require.Equal(t, "a\uFFFDb", u.decode([]byte{'a', 0xff, 'b'}))
	require.Equal(t, "", u.decode([]byte{0xe2, 0x82})) // held back
	require.Equal(t, "\uFFFD", u.flush())              // never completed
}

func TestOutputPipeKeepsOrderAndMerges(t *testing.T) {
	var buf bytes.Buffer
	p := newOutputPipe(&buf)
	require.NoError(t, p.stream(frameStdout, []byte("a")))
	require.NoError(t, p.stream(frameStdout, []byte("b")))
	require.NoError(t, p.stream(frameStderr, []byte("e")))
	require.NoError(t, p.message(frameMessage, []byte(`{"type":"x"}`)))
	require.NoError(t, p.stream(frameStdout, []byte("c")))
	time.Sleep(3 * streamLatency) // the flusher sends the last output
	p.close()

	r := bufio.NewReader(&buf)
	var got []string
	for {
		kind, payload, err := readFrame(r)
		if err != nil {
			break
		}
		got = append(got, string(kind)+":"+string(payload))
	}
	require.Equal(t, []string{"o:ab", "e:e", `m:{"type":"x"}`, "o:c"}, got)
}

func TestReadFrameRejectsHugeFrames(t *testing.T) {
	r := bufio.NewReader(bytes.NewReader([]byte{'m', 0xff, 0xff, 0xff, 0xff}))
	_, _, err := readFrame(r)
	require.ErrorContains(t, err, "over the limit")
}

func TestChannelFramesBothWays(t *testing.T) {
	var got [][]byte
	c := newChannel(func(p []byte) { got = append(got, p) }, nil)
	// Guest → host: frames may arrive in pieces and several per write.
	n, errno := c.write([]byte{0, 0, 0, 2, 'h'})
	require.Zero(t, errno)
	require.Equal(t, 5, n)
	_, _ = c.write([]byte{'i', 0, 0, 0, 1, '!'})
	require.Equal(t, [][]byte{[]byte("hi"), []byte("!")}, got)

	// Host → guest, with a deadline that expires first.
	c.timeout = 10 * time.Millisecond
	buf := make([]byte, 16)
	_, errno = c.read(buf)
	require.NotZero(t, errno, "EAGAIN when nothing came in time")
	require.True(t, c.push([]byte("yo")))
	n, errno = c.read(buf)
	require.Zero(t, errno)
	require.Equal(t, []byte{0, 0, 0, 2, 'y', 'o'}, buf[:n])
	c.close()
	n, errno = c.read(buf)
	require.Zero(t, errno)
	require.Zero(t, n, "EOF once the host closed the channel")
}
