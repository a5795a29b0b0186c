package pipe

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One write of any size leaves the worker in frames of at most
// streamMaxBatch bytes, in order, nothing lost.
func TestOutputPipeSplitsHugeWrites(t *testing.T) {
	var buf bytes.Buffer
	p := NewOutput(&buf)
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*streamMaxBatch+7)/16+1)
	require.NoError(t, p.Stream(Stdout, []byte("<")))
	require.NoError(t, p.Stream(Stdout, big))
	require.NoError(t, p.Message(Message, []byte(`{"type":"x"}`)))
	require.NoError(t, p.Stream(Stderr, big[:streamMaxBatch+1]))
	p.Close()

	r := bufio.NewReader(&buf)
	var out, errOut bytes.Buffer
	var kinds []byte
	for {
		kind, payload, err := ReadFrame(r)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(payload), streamMaxBatch, "frame of kind %c", kind)
		if len(kinds) == 0 || kinds[len(kinds)-1] != kind {
			kinds = append(kinds, kind)
		}
		switch kind {
		case Stdout:
			out.Write(payload)
		case Stderr:
			errOut.Write(payload)
		}
	}
	require.Equal(t, "o"+"m"+"e", string(kinds), "order kept across the split")
	require.Equal(t, append([]byte("<"), big...), out.Bytes())
	require.Equal(t, big[:streamMaxBatch+1], errOut.Bytes())
}

// A kernel that does not read blocks the guest's write instead of letting
// the worker buffer it: with an unbuffered pipe and no reader, a 16 MiB
// write cannot finish, and it finishes once the reader drains.
func TestOutputPipeBackpressure(t *testing.T) {
	pr, pw := io.Pipe()
	p := NewOutput(pw)
	w := p.Writer(Stdout)
	big := bytes.Repeat([]byte("y"), 16<<20)
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(big)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a 16 MiB write returned (%v) while nobody read the pipe: it was buffered", err)
	case <-time.After(200 * time.Millisecond):
	}
	var got int
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r := bufio.NewReader(pr)
		for {
			_, payload, err := ReadFrame(r)
			if err != nil {
				return
			}
			got += len(payload)
		}
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the write did not finish after the reader started")
	}
	p.Close()
	pw.Close()
	<-readDone
	require.Equal(t, len(big), got)
}

// The worker runs with the garbage collector off while the guest runs, so
// the output path must not allocate per write: a cell printing forever
// would otherwise grow the worker's heap without bound.
func TestOutputPipeAllocatesNothingPerWrite(t *testing.T) {
	p := NewOutput(io.Discard)
	defer p.Close()
	out, errw := p.Writer(Stdout), p.Writer(Stderr)
	line := []byte("a line of output\n")
	big := bytes.Repeat([]byte("z"), 3*streamMaxBatch)
	allocs := testing.AllocsPerRun(2000, func() {
		_, _ = out.Write(line)
		_, _ = errw.Write(line) // switching streams emits a frame
		_, _ = out.Write(big)
	})
	require.Zero(t, allocs)
}
