package interp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/wasipy/wasipy/interp/internal/pipe"
)

// Streams are where an embedder takes the guest's standard output and
// error as raw bytes (Pyodide's setStdout/setStderr): each Write gets the
// bytes of one batch the worker flushed (at most 5 ms or 64 KiB of
// output), undecoded. A nil writer leaves that stream as "stream" events.
// LineWriter turns a writer into a batched, line-at-a-time handler.
type Streams struct {
	Stdout io.Writer
	Stderr io.Writer
}

// SetStreams sets where stdout and stderr go (see Streams).
func (p *Process) SetStreams(s Streams) {
	p.mu.Lock()
	p.streams = s
	p.mu.Unlock()
}

// rawStream hands one batch of output to the embedder's writer, if it set
// one for that stream. It runs on readLoop: a writer that blocks stalls
// the guest's output, and only it.
func (p *Process) rawStream(kind byte, b []byte) bool {
	p.mu.Lock()
	w := p.streams.Stdout
	if kind == pipe.Stderr {
		w = p.streams.Stderr
	}
	p.mu.Unlock()
	if w == nil {
		return false
	}
	_, _ = w.Write(b)
	return true
}

// LineWriter is an io.Writer that calls line once per complete line (its
// text without the newline; invalid UTF-8 as U+FFFD), holding back a
// partial line until its end arrives or Flush is called: Pyodide's
// "batched" stream handler.
type LineWriter struct {
	mu   sync.Mutex
	line func(string)
	buf  []byte
}

// NewLineWriter makes a LineWriter calling line.
func NewLineWriter(line func(string)) *LineWriter { return &LineWriter{line: line} }

// Write buffers b and hands on every line it completes.
func (w *LineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(strings.ToValidUTF8(string(w.buf[:i]), "\uFFFD"))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// Flush hands on a partial last line, if any.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(strings.ToValidUTF8(string(w.buf), "\uFFFD"))
		w.buf = nil
	}
}

// SetStdin makes the guest's sys.stdin read r (Pyodide's setStdin):
// sys.stdin.read(), readline() and iteration ask the host for bytes,
// and end of r is end of file. Without it, sys.stdin is empty. Like
// RegisterModule it reaches a busy interpreter at its next await point.
func (p *Process) SetStdin(ctx context.Context, r io.Reader) error {
	if r == nil {
		return errors.New("SetStdin: nil reader")
	}
	p.stdinMu.Lock()
	p.stdinReader = bufio.NewReader(r)
	p.stdinMu.Unlock()
	p.mu.Lock()
	p.hasStdin = true
	p.mu.Unlock()
	return p.updateModules(ctx)
}

// maxStdinRead caps one read of stdin for the guest, whatever it asks.
const maxStdinRead = 1 << 20

// readStdin answers stdin.read: up to n bytes (at least one unless at end
// of input) of the embedder's reader.
func (p *Process) readStdin(n int) (any, [][]byte, error) {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdinReader == nil {
		return "", nil, nil
	}
	if n <= 0 || n > maxStdinRead {
		n = maxStdinRead
	}
	buf := make([]byte, n)
	k, err := p.stdinReader.Read(buf)
	if k == 0 && err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	out := &codec{p: p}
	enc, _ := out.encode(buf[:k])
	return enc, out.buffers, nil
}
