package zmtp

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what peers on the kernel's sockets can make the kernel
// hold. Anyone on the machine can connect to a kernel's TCP ports; only
// the HMAC key authenticates messages, and a message can only be checked
// once it has been read whole, so these limits are enforced on the wire,
// from frame headers, before anything is allocated. A zero field means the
// default (see [DefaultLimits]); RATIONALE.md explains each number.
type Limits struct {
	// MaxFrame is the largest frame accepted on shell, control and stdin.
	// A larger frame header ends the connection before its body is read.
	MaxFrame int64
	// MaxMessage is the largest message (all frames together) accepted
	// on shell, control and stdin; checked on each frame header.
	MaxMessage int64
	// Unverified is the budget, shared by every connection of the
	// server, of bytes held for messages from connections that have not
	// yet sent a validly signed request. A frame whose header would take
	// the budget over ends its connection. It is what an unauthenticated
	// peer, or a thousand of them, can make the kernel hold.
	Unverified int64
	// MaxConnections is how many connections one socket keeps at a time,
	// handshakes in progress included; more are closed at once.
	MaxConnections int
	// SubscriberBytes bounds the bytes queued for one iopub subscriber.
	// A subscriber that falls further behind is disconnected (its
	// libzmq client reconnects); one message larger than the bound is
	// still queued when nothing else is waiting.
	SubscriberBytes int64
	// MessageTime is how long a message may take to arrive once its
	// first byte is in, plus one second per MiB announced by its frame
	// headers; a slower peer is disconnected and what it sent is freed.
	MessageTime time.Duration
}

// DefaultLimits are the limits [Listen] uses.
func DefaultLimits() Limits {
	return Limits{
		MaxFrame:        256 << 20,
		MaxMessage:      256 << 20,
		Unverified:      64 << 20,
		MaxConnections:  64,
		SubscriberBytes: 64 << 20,
		MessageTime:     10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultLimits and keeps the
// frame cap within the message cap.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFrame <= 0 {
		l.MaxFrame = d.MaxFrame
	}
	if l.MaxMessage <= 0 {
		l.MaxMessage = d.MaxMessage
	}
	if l.Unverified <= 0 {
		l.Unverified = d.Unverified
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.SubscriberBytes <= 0 {
		l.SubscriberBytes = d.SubscriberBytes
	}
	if l.MessageTime <= 0 {
		l.MessageTime = d.MessageTime
	}
	l.MaxFrame = min(l.MaxFrame, l.MaxMessage)
	return l
}

// sideLimits are the read limits of iopub and heartbeat connections: a
// subscriber sends subscriptions (a topic each) and the heartbeat sends a
// few bytes to be echoed, so nothing larger than a handshake frame is
// ever needed there.
func sideLimits(l Limits) Limits {
	l.MaxFrame = maxHandshakeFrame
	l.MaxMessage = maxHandshakeFrame
	return l
}

// budget is a byte budget shared by several readers. take reserves bytes
// before they are allocated; give hands them back.
type budget struct {
	max  int64
	used atomic.Int64
}

func (b *budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if n > b.max-u {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *budget) give(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// reclaimThreshold is the size of a dropped message above which the
// memory it used is handed back to the operating system at once.
const reclaimThreshold = 4 << 20

// reclaimer hands freed heap memory back to the operating system after
// large rejected messages. Go's background scavenger would return it too,
// but slowly; after a flood of unsigned data the kernel's resident size
// should drop as soon as the data is gone. debug.FreeOSMemory runs a full
// collection, so calls are spaced by a second and coalesced: the last
// request always gets a run.
type reclaimer struct {
	wake chan struct{}
	runs atomic.Int64 // for tests
}

func newReclaimer(done <-chan struct{}) *reclaimer {
	r := &reclaimer{wake: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case <-done:
				return
			case <-r.wake:
			}
			debug.FreeOSMemory()
			r.runs.Add(1)
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return r
}

// request asks for a run; it never blocks. A nil reclaimer does nothing.
func (r *reclaimer) request() {
	if r == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// logLimiter keeps a flood (a thousand refused connections or unsigned
// messages a second, which cost an attacker nothing) from flooding the
// kernel's log: up to logBurst lines a second are written, the rest are
// counted and the count goes with the next line written.
type logLimiter struct {
	mu         sync.Mutex
	window     time.Time
	lines      int
	suppressed int
}

const logBurst = 10

func (l *logLimiter) warn(log *slog.Logger, msg string, args ...any) {
	l.emit(log, slog.LevelWarn, msg, args...)
}

func (l *logLimiter) emit(log *slog.Logger, level slog.Level, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.lines = now, 0
	}
	if l.lines >= logBurst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.lines++
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_before", n)
	}
	log.Log(context.Background(), level, msg, args...)
}

// replayGuardSize is how many comm messages the server remembers having
// sent. At 36 bytes an id plus the map's overhead it costs about 1 MiB
// when full; it grows with the comms sent, so a kernel without widgets
// does not pay it (made whole up front, it was 1.7 MiB of an idle
// kernel's 2.2 MiB heap).
const replayGuardSize = 16384

// isComm reports the message types that both the kernel and its clients
// send, and that a kernel acts on when it receives them.
func isComm(msgType string) bool {
	return msgType == "comm_open" || msgType == "comm_msg" || msgType == "comm_close"
}

// sentIDs remembers the msg_ids of the last comm messages the server
// sent. Every iopub subscriber (anyone on the machine) receives them,
// signed with the key, and the kernel would act on one sent back on shell
// as if a client had sent it (a widget's state set back, a comm opened in
// the guest). Requests need no such guard: the kernel never sends one.
type sentIDs struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string // oldest first from next once it holds max
	next int
	max  int
}

func newSentIDs(n int) *sentIDs {
	return &sentIDs{ids: map[string]struct{}{}, max: n}
}

func (s *sentIDs) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return
	}
	s.ids[id] = struct{}{}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, id)
		return
	}
	delete(s.ids, s.ring[s.next])
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
}

func (s *sentIDs) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}
