package zmtp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
	"github.com/google/uuid"

	"github.com/wasipy/wasipy/protocol"
)

// ErrNoPeer is returned by [Server.Send] when no connected client has the
// message's routing identity (it went away, or never was).
var ErrNoPeer = errors.New("zmtp: no connected peer with that identity")

// socket is one listening ZMTP socket: it accepts connections, runs each
// handshake on its own goroutine under a deadline, and hands the
// connection to serve.
type socket struct {
	ch      protocol.Channel
	typ     zmq4.SocketType
	id      zmq4.SocketIdentity
	ln      net.Listener
	log     *slog.Logger
	done    <-chan struct{}
	stall   time.Duration // write deadline base, see writeTimeout
	serve   func(c *zconn, peerMeta zmq4.Metadata)
	wg      sync.WaitGroup
	mu      sync.Mutex
	raw     map[net.Conn]struct{} // every accepted connection, to close on shutdown
	closing atomic.Bool

	lim     Limits
	budget  *budget    // for peers not yet verified; nil: none charged
	reclaim *reclaimer // may be nil
	refused logLimiter // connections over MaxConnections
	dups    logLimiter // ROUTER identities already in use
	closed  logLimiter // connections ended for what they sent
	invalid logLimiter // messages dropped by the dispatcher (routers)
}

func newSocket(ch protocol.Channel, typ zmq4.SocketType, ln net.Listener, log *slog.Logger, done <-chan struct{}, stall time.Duration, lim Limits, b *budget, rc *reclaimer) *socket {
	return &socket{
		ch:      ch,
		typ:     typ,
		id:      zmq4.SocketIdentity(uuid.NewString()),
		ln:      ln,
		log:     log.With("channel", ch.String()),
		done:    done,
		stall:   stall,
		raw:     make(map[net.Conn]struct{}),
		lim:     lim.withDefaults(),
		budget:  b,
		reclaim: rc,
	}
}

func (s *socket) start() {
	s.wg.Add(1)
	go s.accept()
}

func (s *socket) accept() {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		if len(s.raw) >= s.lim.MaxConnections {
			// Every connection costs a goroutine and a 64 KiB read
			// buffer; past the cap the newcomer is closed before its
			// handshake, and the connections already there go on.
			s.mu.Unlock()
			s.refused.warn(s.log, "refusing connection: too many connections on this socket",
				"peer", nc.RemoteAddr().String(), "max_connections", s.lim.MaxConnections)
			_ = nc.Close()
			continue
		}
		s.raw[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(nc)
	}
}

func (s *socket) handle(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = nc.Close()
		s.mu.Lock()
		delete(s.raw, nc)
		s.mu.Unlock()
	}()
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	zc, err := zmq4.Open(&guardConn{Conn: nc, greeting: greetingSize}, null.Security(), s.typ, s.id, true, nil)
	if err != nil {
		s.closed.emit(s.log, slog.LevelInfo, "handshake failed", "peer", nc.RemoteAddr().String(), "err", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := newZconn(nc)
	s.log.Debug("peer connected", "peer", c.peer, "peer_type", zc.Peer.Meta["Socket-Type"])
	s.serve(c, zc.Peer.Meta)
	c.close()
}

// readLoop reads messages from c until it fails, answering PINGs and
// passing other commands and messages to the callbacks. A message with
// too many frames is logged and skipped; a frame over the size limits or
// the unverified budget, a message slower than its deadline or a framing
// error ends the connection. onMsg receives the bytes charged to the
// budget for the message and must give them back (see router.serve).
func (s *socket) readLoop(c *zconn, onMsg func(frames [][]byte, held int64) bool, onCmd func(name string, data []byte)) {
	lim := readLimits{
		maxFrame:   uint64(s.lim.MaxFrame),
		maxMessage: uint64(s.lim.MaxMessage),
		msgTime:    s.lim.MessageTime,
		deadline:   func(t time.Time) { _ = c.nc.SetReadDeadline(t) },
		reclaim:    s.reclaim,
		budget:     s.budget,
		verified:   &c.trusted,
	}
	for {
		frames, cmd, held, err := readMsg(c.br, &lim)
		switch {
		case errors.Is(err, errDropped):
			s.invalid.warn(s.log, "dropping message", "peer", c.peer, "reason", err)
			continue
		case err != nil:
			if s.closing.Load() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				s.log.Debug("peer gone", "peer", c.peer, "err", err)
			} else {
				s.closed.warn(s.log, "closing connection", "peer", c.peer, "err", err)
			}
			return
		case cmd:
			name, data, err := c.handleCommand(frames[0], s.stall)
			if err != nil {
				s.closed.warn(s.log, "closing connection", "peer", c.peer, "err", err)
				return
			}
			if onCmd != nil && name != "PING" {
				onCmd(name, data)
			}
		default:
			if !onMsg(frames, held) {
				return
			}
		}
	}
}

func (s *socket) close() {
	s.mu.Lock()
	s.closing.Store(true)
	_ = s.ln.Close()
	for nc := range s.raw {
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// router is a ROUTER socket (shell, control, stdin). Received messages get
// the peer's routing identity as first frame; sent messages are routed by
// their first frame to one connection.
type router struct {
	*socket
	in    chan inMsg
	mu    sync.Mutex
	peers map[string]*zconn
	freed chan struct{}  // closed and replaced when an identity is released
	ids   *atomic.Uint32 // shared by the Server's routers
}

// newRouter makes sk a ROUTER. ids generates identities for peers that
// bring none; sharing it between shell, control and stdin keeps a
// generated shell identity from ever naming another client's stdin.
func newRouter(sk *socket, ids *atomic.Uint32) *router {
	r := &router{socket: sk, in: make(chan inMsg, 64), peers: make(map[string]*zconn), freed: make(chan struct{}), ids: ids}
	sk.serve = r.serve
	return r
}

func (r *router) serve(c *zconn, meta zmq4.Metadata) {
	id := []byte(meta["Identity"])
	if len(id) == 0 || id[0] == 0 || len(id) > 255 {
		// Like libzmq: generated identities start with a zero byte,
		// which peers may not use for their own.
		id = binary.BigEndian.AppendUint32([]byte{0}, r.ids.Add(1))
	}
	c.id = id
	if !r.claim(c) {
		return
	}
	defer func() {
		r.mu.Lock()
		if r.peers[string(id)] == c {
			delete(r.peers, string(id))
			close(r.freed)
			r.freed = make(chan struct{})
		}
		r.mu.Unlock()
	}()
	r.readLoop(c, func(frames [][]byte, held int64) bool {
		msg := make([][]byte, 0, len(frames)+1)
		msg = append(msg, id)
		msg = append(msg, frames...)
		select {
		case r.in <- inMsg{frames: msg, from: c, held: held}:
			return true
		case <-r.done:
			r.release(inMsg{held: held})
			return false
		}
	}, nil)
}

// claim gives c its routing identity, waiting while another connection
// holds it. As libzmq's ROUTER without ZMQ_ROUTER_HANDOVER: the identity
// stays with the connection that has it, and a newcomer that claims it is
// not read from, nor sent anything, until the holder is gone. Anyone on
// the machine can learn a client's identity (jupyter_client uses its
// session id, which every iopub message carries), so letting a newcomer
// take it over would hand it the client's replies and input requests.
// Waiting rather than closing keeps what a client that really reconnected
// sent meanwhile: it is read once its old connection's end is seen.
// claim reports false when c or the server ends first.
func (r *router) claim(c *zconn) bool {
	id := string(c.id)
	r.mu.Lock()
	old, dup := r.peers[id]
	if !dup {
		r.peers[id] = c
		r.mu.Unlock()
		return true
	}
	r.mu.Unlock()
	r.dups.warn(r.log, "holding back a connection: routing identity already in use",
		"identity", fmt.Sprintf("%q", c.id), "holder", old.peer, "peer", c.peer)
	// While c waits, a peek tells whether it went away; it consumes
	// nothing, and the read loop starts only once it has returned.
	peeked := make(chan error, 1)
	go func() {
		_, err := c.br.Peek(1)
		peeked <- err
	}()
	for {
		r.mu.Lock()
		if _, dup := r.peers[id]; !dup {
			r.peers[id] = c
			r.mu.Unlock()
			break
		}
		freed := r.freed
		r.mu.Unlock()
		select {
		case <-freed:
		case <-r.done:
			return false
		case err := <-peeked:
			if err != nil {
				return false // gone before it got the identity
			}
			// Data arrived and stays buffered; c can no longer be
			// watched, only waited for.
			peeked = nil
		}
	}
	r.log.Info("routing identity free again, serving the connection that waited", "identity", fmt.Sprintf("%q", c.id), "peer", c.peer)
	if peeked != nil {
		select {
		case <-peeked: // the read loop sees the same data or error
		case <-r.done:
			r.mu.Lock()
			delete(r.peers, id)
			r.mu.Unlock()
			return false
		}
	}
	return true
}

// inMsg is a message read by a ROUTER, on its way to the dispatcher.
type inMsg struct {
	frames [][]byte
	from   *zconn
	held   int64 // charged to the unverified budget until dispatched
}

// release gives m's bytes back to the budget once the dispatcher is done
// with it.
func (r *router) release(m inMsg) {
	if r.budget != nil {
		r.budget.give(m.held)
	}
}

// send routes frames[1:] to the peer named by frames[0].
func (r *router) send(frames [][]byte) error {
	if len(frames) < 2 {
		return fmt.Errorf("zmtp: %s: nothing to send", r.ch)
	}
	r.mu.Lock()
	c := r.peers[string(frames[0])]
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %s identity %q", ErrNoPeer, r.ch, frames[0])
	}
	if err := c.write(frames[1:], false, writeTimeout(r.stall, frames)); err != nil {
		return fmt.Errorf("zmtp: %s: sending to %s: %w", r.ch, c.peer, err)
	}
	return nil
}

// pub is a PUB socket (iopub). It tracks each subscriber's topics and
// gives each subscriber its own outbox and writer goroutine, so that a
// subscriber that reads slowly or not at all never delays the others. A
// subscriber whose outbox fills up, or that takes longer than the stall
// deadline to take one message, is disconnected (its client reconnects).
type pub struct {
	*socket
	mu      sync.Mutex
	subs    map[*zconn]*subscription
	pending atomic.Int64 // messages in every outbox, not yet written
}

// subscriberOutbox bounds how far one subscriber may fall behind.
const subscriberOutbox = 4096

type subscription struct {
	mu     sync.Mutex
	topics map[string]int
	out    chan [][]byte
	bytes  atomic.Int64  // bytes of the messages in out
	done   chan struct{} // the connection ended
}

func (s *subscription) matches(topic []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.topics {
		if bytes.HasPrefix(topic, []byte(t)) {
			return true
		}
	}
	return false
}

func (s *subscription) update(subscribe bool, topic []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(topic)
	if subscribe {
		s.topics[k]++
		return
	}
	if s.topics[k] > 1 {
		s.topics[k]--
	} else {
		delete(s.topics, k)
	}
}

func newPub(sk *socket) *pub {
	p := &pub{socket: sk, subs: make(map[*zconn]*subscription)}
	sk.serve = p.serve
	return p
}

func (p *pub) serve(c *zconn, _ zmq4.Metadata) {
	sub := &subscription{topics: make(map[string]int), out: make(chan [][]byte, subscriberOutbox), done: make(chan struct{})}
	p.mu.Lock()
	p.subs[c] = sub
	p.mu.Unlock()
	go p.writeTo(c, sub)
	defer func() {
		p.mu.Lock()
		delete(p.subs, c)
		p.mu.Unlock()
		close(sub.done)
	}()
	p.readLoop(c, func(frames [][]byte, _ int64) bool {
		// ZMTP 3.0 subscriptions: one frame, \x01topic or \x00topic.
		if len(frames) == 1 && len(frames[0]) > 0 && frames[0][0] <= 1 {
			sub.update(frames[0][0] == 1, frames[0][1:])
		} else {
			p.log.Debug("ignoring message from subscriber", "peer", c.peer, "frames", len(frames))
		}
		return true
	}, func(name string, data []byte) {
		// ZMTP 3.1 peers subscribe with commands.
		switch name {
		case "SUBSCRIBE":
			sub.update(true, data)
		case "CANCEL":
			sub.update(false, data)
		}
	})
}

// subscribed counts subscribers with at least one topic.
func (p *pub) subscribed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.subs {
		s.mu.Lock()
		if len(s.topics) > 0 {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// send queues frames for every subscriber whose topics match frames[0].
// The frames are shared, not copied, so what a stalled subscriber holds
// is what it has not taken yet; past SubscriberBytes (or subscriberOutbox
// messages) it is disconnected rather than allowed to hold more. A
// message alone in an empty outbox is always queued, however large, so
// a big display reaches every subscriber that keeps up.
func (p *pub) send(frames [][]byte) {
	size := framesSize(frames)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, s := range p.subs {
		if !s.matches(frames[0]) {
			continue
		}
		if q := s.bytes.Load(); q > 0 && q+size > p.lim.SubscriberBytes {
			p.dropSubscriber(c, fmt.Sprintf("%d bytes waiting, limit %d", q+size, p.lim.SubscriberBytes))
			continue
		}
		p.pending.Add(1)
		s.bytes.Add(size)
		select {
		case s.out <- frames:
		default:
			p.pending.Add(-1)
			s.bytes.Add(-size)
			p.dropSubscriber(c, "outbox full")
		}
	}
}

// dropSubscriber disconnects a subscriber that cannot keep up: its
// writer then drops what is left in its outbox (see writeTo). Healthy
// subscribers are not touched.
func (p *pub) dropSubscriber(c *zconn, why string) {
	if !p.closing.Load() {
		p.log.Warn("disconnecting subscriber that cannot keep up", "peer", c.peer, "err", why)
	}
	c.close()
}

// writeTo is one subscriber's writer.
func (p *pub) writeTo(c *zconn, sub *subscription) {
	failed := false
	for {
		select {
		case frames := <-sub.out:
			sub.bytes.Add(-framesSize(frames))
			if !failed {
				if err := c.write(frames, false, writeTimeout(p.stall, frames)); err != nil {
					failed = true
					if !p.closing.Load() {
						p.log.Warn("disconnecting subscriber that cannot keep up", "peer", c.peer, "err", err)
					}
					c.close()
				}
			}
			p.pending.Add(-1)
		case <-sub.done:
			// The connection is gone: what is left in the outbox is dropped.
			for {
				select {
				case frames := <-sub.out:
					sub.bytes.Add(-framesSize(frames))
					p.pending.Add(-1)
				default:
					return
				}
			}
		}
	}
}

// drained waits until every queued message has been written to (or
// dropped with) its subscriber, or ctx ends.
func (p *pub) drained(ctx context.Context) error {
	for p.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// serveHeartbeat echoes every message back on the connection it came from,
// envelope included, which is what a REP socket does for a REQ peer.
func serveHeartbeat(sk *socket) {
	sk.serve = func(c *zconn, _ zmq4.Metadata) {
		sk.readLoop(c, func(frames [][]byte, _ int64) bool {
			if err := c.write(frames, false, writeTimeout(sk.stall, frames)); err != nil {
				sk.closed.warn(sk.log, "heartbeat echo failed", "peer", c.peer, "err", err)
				return false
			}
			return true
		}, nil)
	}
}

func framesSize(frames [][]byte) int64 {
	n := int64(0)
	for _, f := range frames {
		n += int64(len(f))
	}
	return n
}
