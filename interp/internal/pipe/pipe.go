// Package pipe is the framing between the kernel process and its
// interpreter worker (the worker's stdin and stdout), and the worker's
// ordered, batched sender of the guest's output and messages (Output).
package pipe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The kernel process and its interpreter worker process talk over the
// worker's stdin and stdout with frames of one kind byte, a 4-byte
// big-endian length and the payload.
const (
	Stdout  = 'o' // worker → kernel: bytes the guest wrote to fd 1
	Stderr  = 'e' // worker → kernel: bytes the guest wrote to fd 2
	Message = 'm' // both ways: one message of the guest protocol (package guestproto)
	Exit    = 'x' // worker → kernel: the guest ended; JSON ExitInfo
	Started = 's' // worker → kernel: how the interpreter started (JSON worker.StartInfo), before its hello
	Renew   = 'r' // kernel → worker: end the idle interpreter and start a fresh one in this process
	Renewed = 'n' // worker → kernel: the interpreter ended for Renew; the frames that follow are the fresh one's

	// MaxFrame caps a frame's payload; a longer one ends the reader.
	MaxFrame = 512 << 20
)

// ExitInfo tells the kernel how the guest ended.
type ExitInfo struct {
	Code  uint32 `json:"code"`
	Error string `json:"error,omitempty"`
}

// ReadFrame reads one frame.
func ReadFrame(r *bufio.Reader) (kind byte, payload []byte, err error) {
	return ReadFrameInto(r, func(n int) []byte { return make([]byte, n) })
}

// ReadFrameInto reads one frame into the n bytes alloc(n) returns (n is
// checked against MaxFrame first).
func ReadFrameInto(r *bufio.Reader, alloc func(n int) []byte) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[1:])
	if size > MaxFrame {
		return 0, nil, fmt.Errorf("interpreter frame of %d bytes is over the limit", size)
	}
	payload = alloc(int(size))
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	return WriteFrameParts(w, kind, [][]byte{payload})
}

// WriteFrameParts writes one frame whose payload is parts, one after the
// other: a message's head and its buffers go out without being joined.
// A small first part shares the header's write.
func WriteFrameParts(w io.Writer, kind byte, parts [][]byte) error {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if size > MaxFrame {
		return fmt.Errorf("interpreter frame of %d bytes is over the limit", size)
	}
	var small [5 + 4096]byte
	first := small[:5]
	first[0] = kind
	binary.BigEndian.PutUint32(first[1:], uint32(size))
	if len(parts) > 0 && len(parts[0]) <= len(small)-5 {
		first = append(first, parts[0]...)
		parts = parts[1:]
	}
	if _, err := w.Write(first); err != nil {
		return err
	}
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// Output serialises everything the worker sends to the kernel. The guest's
// fd 1 and fd 2 writes and its channel messages all pass through it, so the
// kernel sees them in exactly the order the guest made them. Consecutive
// writes to the same fd are merged, and a flusher sends buffered output
// within streamLatency so that a slow cell's prints show up live.
type Output struct {
	mu       sync.Mutex
	w        *bufio.Writer
	pendKind byte
	pend     []byte
	err      error
	timer    *time.Timer // armed while output waits to be flushed
	armed    bool
	hdr      [5]byte // frame header scratch: no allocation per frame
	// Collect, when set, runs the worker's paced garbage collector after a
	// message is sent. Messages are the guest's channel writes: each one
	// allocates its frame, and a cell that displays in a loop never parks
	// in a read or a sleep, where the worker otherwise collects (the heap
	// grew by 200 MiB for 25,000 displays of 4 KB). A channel write is a
	// host call on the guest's own goroutine, so the collector cannot
	// stall there on unpreemptible wasm code.
	Collect func()
}

const (
	streamLatency  = 5 * time.Millisecond
	streamMaxBatch = 64 << 10
)

// NewOutput returns an Output that writes frames to w.
func NewOutput(w io.Writer) *Output {
	p := &Output{w: bufio.NewWriterSize(w, 128<<10), pend: make([]byte, 0, streamMaxBatch)}
	// The flusher runs only when output waits: an idle worker costs no CPU.
	p.timer = time.AfterFunc(time.Hour, func() {
		p.mu.Lock()
		p.armed = false
		p.flushLocked()
		p.mu.Unlock()
	})
	p.timer.Stop()
	return p
}

// armLocked makes sure buffered output goes out within streamLatency.
func (p *Output) armLocked() {
	if !p.armed {
		p.armed = true
		p.timer.Reset(streamLatency)
	}
}

func (p *Output) emitPendingLocked() {
	if len(p.pend) == 0 || p.err != nil {
		return
	}
	p.err = p.writeFrameLocked(p.pendKind, p.pend)
	p.pend = p.pend[:0]
}

// writeFrameLocked is WriteFrame with the header in p, which (unlike a local
// passed to an io.Writer) does not escape to the heap.
func (p *Output) writeFrameLocked(kind byte, parts ...[]byte) error {
	size := 0
	for _, b := range parts {
		size += len(b)
	}
	p.hdr[0] = kind
	binary.BigEndian.PutUint32(p.hdr[1:], uint32(size))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	for _, b := range parts {
		if _, err := p.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (p *Output) flushLocked() {
	p.emitPendingLocked()
	if p.err == nil && p.w.Buffered() > 0 {
		p.err = p.w.Flush()
	}
}

// Stream adds guest output of the given kind (Stdout or Stderr).
//
// However large b is (one write(2) of 300 MB is one call), it leaves in
// frames of at most streamMaxBatch bytes, written as they fill: the pipe to
// the kernel process is an OS pipe, so a kernel that reads slowly blocks
// this call, and with it the guest, instead of the output piling up here.
// Nothing is allocated per call (pend keeps its capacity): the worker runs
// with the garbage collector off while the guest runs.
func (p *Output) Stream(kind byte, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pendKind != kind {
		p.emitPendingLocked()
		p.pendKind = kind
	}
	for len(b) > 0 && p.err == nil {
		n := min(len(b), streamMaxBatch-len(p.pend))
		p.pend = append(p.pend, b[:n]...)
		b = b[n:]
		if len(p.pend) >= streamMaxBatch {
			p.emitPendingLocked()
		}
	}
	p.armLocked()
	return p.err
}

// Message sends one frame now, after any output written before it. Call
// it only from the guest's goroutine (see Collect).
func (p *Output) Message(kind byte, payload []byte) error {
	return p.MessageParts(kind, [][]byte{payload})
}

// MessageParts is Message for a payload in parts (written one after the
// other, not joined); the parts are not kept after it returns.
func (p *Output) MessageParts(kind byte, parts [][]byte) error {
	p.mu.Lock()
	p.emitPendingLocked()
	if p.err == nil {
		p.err = p.writeFrameLocked(kind, parts...)
	}
	p.flushLocked()
	err := p.err
	p.mu.Unlock()
	if p.Collect != nil {
		p.Collect()
	}
	return err
}

// Close sends what is buffered.
func (p *Output) Close() {
	p.timer.Stop()
	p.mu.Lock()
	p.flushLocked()
	p.mu.Unlock()
}

// Writer is the io.Writer wazero gets for the guest's fd 1 (kind Stdout)
// or 2 (Stderr).
func (p *Output) Writer(kind byte) io.Writer { return streamWriter{p, kind} }

type streamWriter struct {
	p    *Output
	kind byte
}

func (s streamWriter) Write(b []byte) (int, error) {
	if err := s.p.Stream(s.kind, b); err != nil {
		return 0, errors.New("kernel connection lost")
	}
	return len(b), nil
}
