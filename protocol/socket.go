package protocol

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
)

// Channel names one of the five Jupyter sockets.
type Channel int

// The five channels of a kernel.
const (
	Shell Channel = iota
	Control
	Stdin
	IOPub
	Heartbeat
)

func (c Channel) String() string {
	switch c {
	case Shell:
		return "shell"
	case Control:
		return "control"
	case Stdin:
		return "stdin"
	case IOPub:
		return "iopub"
	case Heartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("Channel(%d)", int(c))
}

// ErrNoPeer is returned by [Server.Send] when no connected client has the
// message's routing identity (it went away, or never was).
var ErrNoPeer = errors.New("protocol: no connected peer with that identity")

// socket is one listening ZMTP socket: it accepts connections, runs each
// handshake on its own goroutine under a deadline, and hands the
// connection to serve.
type socket struct {
	ch      Channel
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
}

func newSocket(ch Channel, typ zmq4.SocketType, ln net.Listener, log *slog.Logger, done <-chan struct{}, stall time.Duration) *socket {
	return &socket{
		ch:    ch,
		typ:   typ,
		id:    zmq4.SocketIdentity(uuid.NewString()),
		ln:    ln,
		log:   log.With("channel", ch.String()),
		done:  done,
		stall: stall,
		raw:   make(map[net.Conn]struct{}),
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
		s.log.Info("handshake failed", "peer", nc.RemoteAddr().String(), "err", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := newZconn(nc)
	s.log.Debug("peer connected", "peer", c.peer, "peer_type", zc.Peer.Meta["Socket-Type"])
	s.serve(c, zc.Peer.Meta)
	c.close()
}

// readLoop reads messages from c until it fails, answering PINGs and
// passing other commands and messages to the callbacks. Oversized
// messages are logged and skipped.
func (s *socket) readLoop(c *zconn, onMsg func([][]byte) bool, onCmd func(name string, data []byte)) {
	for {
		frames, cmd, err := readMsg(c.br)
		switch {
		case errors.Is(err, errDropped):
			s.log.Warn("dropping message", "peer", c.peer, "reason", err)
			continue
		case err != nil:
			if s.closing.Load() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				s.log.Debug("peer gone", "peer", c.peer, "err", err)
			} else {
				s.log.Warn("closing connection", "peer", c.peer, "err", err)
			}
			return
		case cmd:
			name, data, err := c.handleCommand(frames[0], s.stall)
			if err != nil {
				s.log.Warn("closing connection", "peer", c.peer, "err", err)
				return
			}
			if onCmd != nil && name != "PING" {
				onCmd(name, data)
			}
		default:
			if !onMsg(frames) {
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
	in    chan [][]byte
	mu    sync.Mutex
	peers map[string]*zconn
	ids   *atomic.Uint32 // shared by the Server's routers
}

// newRouter makes sk a ROUTER. ids generates identities for peers that
// bring none; sharing it between shell, control and stdin keeps a
// generated shell identity from ever naming another client's stdin.
func newRouter(sk *socket, ids *atomic.Uint32) *router {
	r := &router{socket: sk, in: make(chan [][]byte, 64), peers: make(map[string]*zconn), ids: ids}
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
	r.mu.Lock()
	if old, dup := r.peers[string(id)]; dup {
		// The newer connection takes the identity over: replies go to
		// it alone (zmq4's ROUTER would send each reply to both).
		r.log.Info("identity reused, newer connection takes it", "identity", fmt.Sprintf("%q", id), "old_peer", old.peer, "peer", c.peer)
	}
	r.peers[string(id)] = c
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.peers[string(id)] == c {
			delete(r.peers, string(id))
		}
		r.mu.Unlock()
	}()
	r.readLoop(c, func(frames [][]byte) bool {
		msg := make([][]byte, 0, len(frames)+1)
		msg = append(msg, id)
		msg = append(msg, frames...)
		select {
		case r.in <- msg:
			return true
		case <-r.done:
			return false
		}
	}, nil)
}

// send routes frames[1:] to the peer named by frames[0].
func (r *router) send(frames [][]byte) error {
	if len(frames) < 2 {
		return fmt.Errorf("protocol: %s: nothing to send", r.ch)
	}
	r.mu.Lock()
	c := r.peers[string(frames[0])]
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %s identity %q", ErrNoPeer, r.ch, frames[0])
	}
	if err := c.write(frames[1:], false, writeTimeout(r.stall, frames)); err != nil {
		return fmt.Errorf("protocol: %s: sending to %s: %w", r.ch, c.peer, err)
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
	p.readLoop(c, func(frames [][]byte) bool {
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
func (p *pub) send(frames [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, s := range p.subs {
		if !s.matches(frames[0]) {
			continue
		}
		p.pending.Add(1)
		select {
		case s.out <- frames:
		default:
			p.pending.Add(-1)
			if !p.closing.Load() {
				p.log.Warn("disconnecting subscriber that cannot keep up", "peer", c.peer, "err", "outbox full")
			}
			c.close()
		}
	}
}

// writeTo is one subscriber's writer.
func (p *pub) writeTo(c *zconn, sub *subscription) {
	failed := false
	for {
		select {
		case frames := <-sub.out:
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
				case <-sub.out:
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
		sk.readLoop(c, func(frames [][]byte) bool {
			if err := c.write(frames, false, writeTimeout(sk.stall, frames)); err != nil {
				sk.log.Warn("heartbeat echo failed", "peer", c.peer, "err", err)
				return false
			}
			return true
		}, nil)
	}
}
