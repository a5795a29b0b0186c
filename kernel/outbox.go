package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wasipy/wasipy/protocol"
)

// Wire is the transport as the kernel sees it: protocol/zmtp's Server
// implements it. Publish hands a message to the iopub subscribers at once
// (the transport keeps no queue and never reads content); Flush waits
// until what was published is on the subscribers' connections.
type Wire interface {
	Send(ch protocol.Channel, m *protocol.Message) error
	Publish(m *protocol.Message)
	Flush(ctx context.Context) error
}

// ErrOutboxClosed is returned by [Outbox.Flush] once the outbox is closed
// and its writer has stopped.
var ErrOutboxClosed = errors.New("kernel: iopub outbox closed")

// Outbox is the kernel's side of iopub: a bounded FIFO between the kernel
// and the transport's Publish, and one writer goroutine that empties it.
// Publish never drops a message and blocks while the FIFO is full, so a
// cell that prints faster than the wire takes it is slowed down instead of
// growing memory. While a "stream" message waits, the next stream message
// of the same parent, name and session is appended to it, so a print loop
// becomes a few large messages; nothing else is merged or reordered.
// Merging lives here, not in the transport, because it is about what a
// message means: the transport only sees frames.
//
// Send passes requests' replies straight to the wire (Send on IOPub is
// Publish), so an Outbox is what the kernel is given as its Transport.
type Outbox struct {
	wire      Wire
	log       *slog.Logger
	q         *pubQueue
	done      chan struct{} // closed when the writer has stopped
	closeOnce sync.Once
}

// closeDrainTimeout is how long Close waits for waiting messages (the
// last status, say) to reach the transport.
const closeDrainTimeout = 2 * time.Second

// NewOutbox starts the writer that hands queued messages to w. log may be
// nil.
func NewOutbox(w Wire, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{wire: w, log: log, q: newPubQueue(publishQueueSize), done: make(chan struct{})}
	go o.write()
	return o
}

// Send sends m on shell, control or stdin at once; on IOPub it is
// [Outbox.Publish].
func (o *Outbox) Send(ch protocol.Channel, m *protocol.Message) error {
	if ch == protocol.IOPub {
		o.Publish(m)
		return nil
	}
	return o.wire.Send(ch, m)
}

// Publish queues m for iopub. It never drops m: it blocks while 1024
// messages or 64 MiB (content, metadata and buffers; a larger message
// waits alone) are waiting. A stream message may be appended to the one
// waiting before it (same parent msg_id, name and session, at most 1 MiB
// of text together); the caller's message is never changed. m must not be
// changed after Publish. After Close, Publish discards m.
func (o *Outbox) Publish(m *protocol.Message) {
	if m == nil {
		return
	}
	if !o.q.push(m) {
		o.log.Debug("outbox closed, not publishing", "msg_type", m.Header.MsgType)
	}
}

// Flush blocks until everything published before the call has been handed
// to the transport and the transport has written it to its subscribers
// (see [Wire]), or ctx ends.
func (o *Outbox) Flush(ctx context.Context) error {
	q := o.q
	q.mu.Lock()
	target := q.seq
	for q.written < target {
		if q.closed {
			select {
			case <-o.done:
				q.mu.Unlock()
				return ErrOutboxClosed
			default:
			}
		}
		ch := q.progress
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-o.done:
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return o.wire.Flush(ctx)
}

// write is the writer goroutine: it hands the oldest waiting message to
// the transport, one at a time, in order.
func (o *Outbox) write() {
	defer close(o.done)
	for {
		it := o.q.pop()
		if it == nil {
			return
		}
		o.wire.Publish(it.message())
		o.q.markWritten(it.seq)
	}
}

// Close stops taking messages and gives the waiting ones a moment to
// reach the transport; what is still waiting after that is dropped and
// logged. Close the Outbox before the transport.
func (o *Outbox) Close() {
	o.closeOnce.Do(func() {
		o.q.close()
		select {
		case <-o.done:
		case <-time.After(closeDrainTimeout):
			if n := o.q.discard(); n > 0 {
				o.log.Warn("closing with unwritten iopub messages", "count", n)
			}
		}
	})
}

const (
	// publishQueueSize bounds the messages waiting for iopub; Publish
	// blocks while it is full.
	publishQueueSize = 1024
	// publishQueueBytes bounds the bytes waiting for iopub (content,
	// metadata and buffers): a cell that displays large images in a loop
	// waits for the writer instead of queueing 1024 of them. A message
	// larger than the bound is queued alone.
	publishQueueBytes = 64 << 20
	// maxCoalescedText bounds the text of one coalesced stream message.
	maxCoalescedText = 1 << 20
)

// queued is one message waiting for iopub. A stream message keeps its text
// apart so that later stream messages with the same parent and name can be
// appended to it while it waits.
type queued struct {
	m      *protocol.Message
	seq    uint64 // the last Publish call folded into this item
	stream *streamText
	size   int // bytes counted against publishQueueBytes
}

// messageSize is what a queued message counts against the byte bound.
// Metadata is a map by then; its size is that of its JSON (it is empty for
// nearly every message, so the encoding is rarely paid). Counting its keys
// instead would let a cell display tiny content with huge metadata past
// the bound.
func messageSize(m *protocol.Message) int {
	n := len(m.Content)
	if len(m.Metadata) > 0 {
		if b, err := json.Marshal(m.Metadata); err == nil {
			n += len(b)
		}
	}
	for _, b := range m.Buffers {
		n += len(b)
	}
	return n
}

type streamText struct {
	name, parent, session string
	text                  strings.Builder
	parts                 int
}

// streamContent is the content of a "stream" message.
type streamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// asStream returns the stream text of m when m is a stream message that
// can be coalesced: content exactly {"name", "text"}, no buffers, no
// metadata.
func asStream(m *protocol.Message) *streamText {
	if m.Header.MsgType != "stream" || len(m.Buffers) > 0 || len(m.Metadata) > 0 {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(m.Content, &raw) != nil || len(raw) != 2 {
		return nil
	}
	var c streamContent
	if json.Unmarshal(raw["name"], &c.Name) != nil || json.Unmarshal(raw["text"], &c.Text) != nil {
		return nil
	}
	st := &streamText{name: c.Name, parent: m.ParentHeader.MsgID, session: m.Header.Session, parts: 1}
	st.text.WriteString(c.Text)
	return st
}

// message returns the message to write: the original, or for a coalesced
// stream a copy carrying the joined text.
func (q *queued) message() *protocol.Message {
	if q.stream == nil || q.stream.parts == 1 {
		return q.m
	}
	cp := *q.m
	content, err := json.Marshal(streamContent{Name: q.stream.name, Text: q.stream.text.String()})
	if err == nil {
		cp.Content = content
	}
	return &cp
}

// pubQueue is the bounded FIFO between Publish and the iopub writer.
type pubQueue struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	items    []*queued
	max      int
	bytes    int // sum of the items' sizes
	maxBytes int
	seq      uint64        // sequence number of the last Publish
	written  uint64        // every Publish up to this one is written
	progress chan struct{} // closed and replaced when written moves or the queue closes
	closed   bool
	paused   bool // tests hold the writer to observe coalescing and backpressure
}

func newPubQueue(max int) *pubQueue {
	q := &pubQueue{max: max, maxBytes: publishQueueBytes, progress: make(chan struct{})}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

// push appends m, or folds it into the stream message at the tail of the
// queue. It blocks while the queue is full and reports false once the
// queue is closed.
func (q *pubQueue) push(m *protocol.Message) bool {
	st := asStream(m)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if st != nil && len(q.items) > 0 {
		tail := q.items[len(q.items)-1]
		if ts := tail.stream; ts != nil && ts.name == st.name && ts.parent == st.parent &&
			ts.session == st.session && ts.text.Len()+st.text.Len() <= maxCoalescedText {
			ts.text.WriteString(st.text.String())
			ts.parts++
			tail.size += st.text.Len()
			q.bytes += st.text.Len()
			q.seq++
			tail.seq = q.seq
			return true
		}
	}
	size := messageSize(m)
	for (len(q.items) >= q.max || (len(q.items) > 0 && q.bytes+size > q.maxBytes)) && !q.closed {
		q.notFull.Wait()
	}
	if q.closed {
		return false
	}
	q.seq++
	q.bytes += size
	q.items = append(q.items, &queued{m: m, seq: q.seq, stream: st, size: size})
	q.notEmpty.Signal()
	return true
}

// pop takes the oldest item; nil once the queue is closed and empty.
func (q *pubQueue) pop() *queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.items) == 0 || q.paused) && !q.closed {
		q.notEmpty.Wait()
	}
	if len(q.items) == 0 {
		return nil
	}
	it := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	q.bytes -= it.size
	// Broadcast: after a large item leaves, several small pushes may fit.
	q.notFull.Broadcast()
	return it
}

// markWritten records that every Publish up to seq has been written.
func (q *pubQueue) markWritten(seq uint64) {
	q.mu.Lock()
	if seq > q.written {
		q.written = seq
	}
	close(q.progress)
	q.progress = make(chan struct{})
	q.mu.Unlock()
}

// close stops new pushes and wakes everyone; pop still drains what is
// queued.
func (q *pubQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		q.paused = false
		close(q.progress)
		q.progress = make(chan struct{})
	}
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
	q.mu.Unlock()
}

// discard drops whatever is still queued (after close, when the writer
// has given up).
func (q *pubQueue) discard() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	q.bytes = 0
	return n
}

func (q *pubQueue) setPaused(p bool) {
	q.mu.Lock()
	q.paused = p
	q.notEmpty.Broadcast()
	q.mu.Unlock()
}

// len is the number of queued items (coalesced streams count once).
func (q *pubQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
