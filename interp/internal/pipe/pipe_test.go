package pipe

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOutputPipeKeepsOrderAndMerges(t *testing.T) {
	var buf bytes.Buffer
	p := NewOutput(&buf)
	require.NoError(t, p.Stream(Stdout, []byte("a")))
	require.NoError(t, p.Stream(Stdout, []byte("b")))
	require.NoError(t, p.Stream(Stderr, []byte("e")))
	require.NoError(t, p.Message(Message, []byte(`{"type":"x"}`)))
	require.NoError(t, p.Stream(Stdout, []byte("c")))
	time.Sleep(3 * streamLatency) // the flusher sends the last output
	p.Close()

	r := bufio.NewReader(&buf)
	var got []string
	for {
		kind, payload, err := ReadFrame(r)
		if err != nil {
			break
		}
		got = append(got, string(kind)+":"+string(payload))
	}
	require.Equal(t, []string{"o:ab", "e:e", `m:{"type":"x"}`, "o:c"}, got)
}

func TestReadFrameRejectsHugeFrames(t *testing.T) {
	r := bufio.NewReader(bytes.NewReader([]byte{'m', 0xff, 0xff, 0xff, 0xff}))
	_, _, err := ReadFrame(r)
	require.ErrorContains(t, err, "over the limit")
}
