package interp

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
	frameStdout    = 'o' // worker → kernel: bytes the guest wrote to fd 1
	frameStderr    = 'e' // worker → kernel: bytes the guest wrote to fd 2
	frameMessage   = 'm' // both ways: one JSON message of the guest protocol
	frameExit      = 'x' // worker → kernel: the guest ended; JSON exitInfo
	frameInterrupt = 'i' // kernel → worker: interrupt the running code

	maxPipeFrame = 512 << 20
)

func readFrame(r *bufio.Reader) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[1:])
	if size > maxPipeFrame {
		return 0, nil, fmt.Errorf("interpreter frame of %d bytes is over the limit", size)
	}
	payload = make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// outputPipe serialises everything the worker sends to the kernel. The guest's
// fd 1 and fd 2 writes and its channel messages all pass through it, so the
// kernel sees them in exactly the order the guest made them. Consecutive
// writes to the same fd are merged, and a flusher sends buffered output
// within streamLatency so that a slow cell's prints show up live.
type outputPipe struct {
	mu       sync.Mutex
	w        *bufio.Writer
	pendKind byte
	pend     []byte
	err      error
	timer    *time.Timer // armed while output waits to be flushed
	armed    bool
	hdr      [5]byte // frame header scratch: no allocation per frame
	// collect, when set, runs the worker's paced garbage collector after a
	// message is sent. Messages are the guest's channel writes: each one
	// allocates its frame, and a cell that displays in a loop never parks
	// in a read or a sleep, where the worker otherwise collects (the heap
	// grew by 200 MiB for 25,000 displays of 4 KB). A channel write is a
	// host call on the guest's own goroutine, so the collector cannot
	// stall there on unpreemptible wasm code.
	collect func()
}

const (
	streamLatency  = 5 * time.Millisecond
	streamMaxBatch = 64 << 10
)

func newOutputPipe(w io.Writer) *outputPipe {
	p := &outputPipe{w: bufio.NewWriterSize(w, 128<<10), pend: make([]byte, 0, streamMaxBatch)}
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
func (p *outputPipe) armLocked() {
	if !p.armed {
		p.armed = true
		p.timer.Reset(streamLatency)
	}
}

func (p *outputPipe) emitPendingLocked() {
	if len(p.pend) == 0 || p.err != nil {
		return
	}
	p.err = p.writeFrameLocked(p.pendKind, p.pend)
	p.pend = p.pend[:0]
}

// writeFrameLocked is writeFrame with the header in p, which (unlike a local
// passed to an io.Writer) does not escape to the heap.
func (p *outputPipe) writeFrameLocked(kind byte, payload []byte) error {
	p.hdr[0] = kind
	binary.BigEndian.PutUint32(p.hdr[1:], uint32(len(payload)))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	_, err := p.w.Write(payload)
	return err
}

func (p *outputPipe) flushLocked() {
	p.emitPendingLocked()
	if p.err == nil && p.w.Buffered() > 0 {
		p.err = p.w.Flush()
	}
}

// stream adds guest output of the given kind (frameStdout or frameStderr).
//
// However large b is (one write(2) of 300 MB is one call), it leaves in
// frames of at most streamMaxBatch bytes, written as they fill: the pipe to
// the kernel process is an OS pipe, so a kernel that reads slowly blocks
// this call, and with it the guest, instead of the output piling up here.
// Nothing is allocated per call (pend keeps its capacity): the worker runs
// with the garbage collector off while the guest runs.
func (p *outputPipe) stream(kind byte, b []byte) error {
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

// message sends one frame now, after any output written before it. Call it
// only from the guest's goroutine (see collect).
func (p *outputPipe) message(kind byte, payload []byte) error {
	p.mu.Lock()
	p.emitPendingLocked()
	if p.err == nil {
		p.err = p.writeFrameLocked(kind, payload)
	}
	p.flushLocked()
	err := p.err
	p.mu.Unlock()
	if p.collect != nil {
		p.collect()
	}
	return err
}

func (p *outputPipe) close() {
	p.timer.Stop()
	p.mu.Lock()
	p.flushLocked()
	p.mu.Unlock()
}

// streamWriter is the io.Writer wazero gets for one of the guest's fds.
type streamWriter struct {
	p    *outputPipe
	kind byte
}

func (s streamWriter) Write(b []byte) (int, error) {
	if err := s.p.stream(s.kind, b); err != nil {
		return 0, errors.New("kernel connection lost")
	}
	return len(b), nil
}
