package zmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/wasipy/wasipy/protocol"
)

// Handler receives the messages of a kernel's request channels.
type Handler interface {
	// HandleMessage is called for every valid message received on Shell, Control or Stdin.
	// Calls for one channel are serial, in arrival order; different channels are handled concurrently
	// (each channel has its own reader goroutine), so Control is answered while a Shell handler blocks.
	HandleMessage(ch protocol.Channel, m *protocol.Message)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ch protocol.Channel, m *protocol.Message)

// HandleMessage calls f(ch, m).
func (f HandlerFunc) HandleMessage(ch protocol.Channel, m *protocol.Message) { f(ch, m) }

// ErrServerClosed is returned by Server methods called after Close.
var ErrServerClosed = errors.New("zmtp: server closed")

const (
	// defaultStallTimeout is how long one message may take to reach one
	// peer (plus a second per MiB) before the peer is disconnected.
	defaultStallTimeout = 10 * time.Second
	// closeDrainTimeout is how long Close waits for the subscribers'
	// outboxes (the last status, say) to go out.
	closeDrainTimeout = 2 * time.Second
)

// Server owns the five sockets of a kernel: shell, control and stdin
// (ROUTER), iopub (PUB) and heartbeat (REP echo).
type Server struct {
	log    *slog.Logger
	info   protocol.ConnectionInfo
	signer *protocol.Signer

	shell, control, stdin *router
	iopub                 *pub
	hb                    *socket
	sockets               []*socket

	pubMu sync.Mutex // one Publish at a time: frames reach every outbox in the order they were published

	lim     Limits
	budget  *budget // bytes held for peers not yet verified, all sockets together
	reclaim *reclaimer
	sent    *sentIDs // comm messages sent, to refuse them replayed

	done      chan struct{}
	closeOnce sync.Once
	serving   atomic.Bool
}

// Listen binds all five sockets (shell/control/stdin ROUTER, iopub PUB,
// heartbeat REP echo) on the endpoints of info, and starts accepting
// connections and the heartbeat echo at once. For tcp a
// port of 0 binds a free port; [Server.Info] tells which. When ctx is done
// the Server closes. log may be nil (nothing is logged). It applies
// [DefaultLimits]; see [ListenLimits].
func Listen(ctx context.Context, info *protocol.ConnectionInfo, log *slog.Logger) (*Server, error) {
	return ListenLimits(ctx, info, log, DefaultLimits())
}

// ListenLimits is [Listen] with the limits on what peers may send and
// hold; zero fields take the defaults.
func ListenLimits(ctx context.Context, info *protocol.ConnectionInfo, log *slog.Logger, lim Limits) (*Server, error) {
	if info == nil {
		return nil, fmt.Errorf("zmtp: Listen: nil ConnectionInfo")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ci := *info
	if err := ci.Normalize(); err != nil {
		return nil, fmt.Errorf("zmtp: Listen: %w", err)
	}
	signer, err := protocol.NewSigner(ci.SignatureScheme, ci.Key)
	if err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	s := &Server{
		log:    log,
		signer: signer,
		lim:    lim,
		budget: &budget{max: lim.Unverified},
		sent:   newSentIDs(replayGuardSize),
		done:   make(chan struct{}),
	}
	binds := []struct {
		ch   protocol.Channel
		typ  zmq4.SocketType
		port *int
	}{
		{protocol.Shell, zmq4.Router, &ci.ShellPort},
		{protocol.IOPub, zmq4.Pub, &ci.IOPubPort},
		{protocol.Stdin, zmq4.Router, &ci.StdinPort},
		{protocol.Control, zmq4.Router, &ci.ControlPort},
		{protocol.Heartbeat, zmq4.Rep, &ci.HBPort},
	}
	ids := new(atomic.Uint32)
	ids.Store(rand.Uint32() >> 1)
	for _, b := range binds {
		ln, err := listenEndpoint(ci.Endpoint(*b.port))
		if err != nil {
			for _, sk := range s.sockets {
				_ = sk.ln.Close()
			}
			return nil, fmt.Errorf("zmtp: binding %s on %s: %w", b.ch, ci.Endpoint(*b.port), err)
		}
		if a, ok := ln.Addr().(*net.TCPAddr); ok {
			*b.port = a.Port
		}
		var sk *socket
		switch b.typ {
		case zmq4.Router:
			sk = newSocket(b.ch, b.typ, ln, log, s.done, defaultStallTimeout, lim, s.budget, nil)
		default:
			// Subscribers and heartbeat peers never need large
			// messages, and nothing they send is kept.
			sk = newSocket(b.ch, b.typ, ln, log, s.done, defaultStallTimeout, sideLimits(lim), nil, nil)
		}
		s.sockets = append(s.sockets, sk)
		switch b.ch {
		case protocol.Shell:
			s.shell = newRouter(sk, ids)
		case protocol.Control:
			s.control = newRouter(sk, ids)
		case protocol.Stdin:
			s.stdin = newRouter(sk, ids)
		case protocol.IOPub:
			s.iopub = newPub(sk)
		case protocol.Heartbeat:
			serveHeartbeat(sk)
			s.hb = sk
		}
	}
	s.info = ci
	s.reclaim = newReclaimer(s.done)
	for _, sk := range s.sockets {
		sk.reclaim = s.reclaim
		sk.start()
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	log.Info("listening", "transport", ci.Transport, "ip", ci.IP,
		"shell", ci.ShellPort, "iopub", ci.IOPubPort, "stdin", ci.StdinPort,
		"control", ci.ControlPort, "hb", ci.HBPort, "signed", signer.Enabled(),
		"max_message", lim.MaxMessage, "max_frame", lim.MaxFrame, "unverified_budget", lim.Unverified,
		"max_connections", lim.MaxConnections, "subscriber_bytes", lim.SubscriberBytes)
	return s, nil
}

// Info returns the connection info the Server listens on, with the ports
// it actually bound.
func (s *Server) Info() protocol.ConnectionInfo { return s.info }

// Signer returns the Signer built from the connection info.
func (s *Server) Signer() *protocol.Signer { return s.signer }

func (s *Server) router(ch protocol.Channel) *router {
	switch ch {
	case protocol.Shell:
		return s.shell
	case protocol.Control:
		return s.control
	case protocol.Stdin:
		return s.stdin
	}
	return nil
}

// Serve runs the readers until ctx is done or Close is called. Invalid messages (bad signature, malformed
// framing, bad JSON) are logged (at Warn with the reason and channel) and dropped; the server keeps serving.
// A heartbeat or socket read error is logged and the loop goes on (never stops the kernel).
//
// Serve returns nil when ctx is done or the Server is closed, without
// waiting for handlers still running. A handler that panics is logged at
// Error and the channel goes on. Serve may be called once.
func (s *Server) Serve(ctx context.Context, h Handler) error {
	if h == nil {
		return fmt.Errorf("zmtp: Serve: nil Handler")
	}
	if !s.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("zmtp: Serve called twice")
	}
	select {
	case <-s.done:
		return ErrServerClosed
	default:
	}
	for _, ch := range []protocol.Channel{protocol.Shell, protocol.Control, protocol.Stdin} {
		go s.dispatch(ctx, ch, h)
	}
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	return nil
}

func (s *Server) dispatch(ctx context.Context, ch protocol.Channel, h Handler) {
	r := s.router(ch)
	for {
		var in inMsg
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case in = <-r.in:
		}
		m, err := protocol.Decode(in.frames, s.signer)
		if err != nil {
			r.invalid.warn(s.log, "dropping invalid message", "channel", ch.String(), "reason", err.Error(), "frames", len(in.frames), "peer", in.from.peer)
			r.release(in)
			if size := framesSize(in.frames); size >= reclaimThreshold {
				in.frames = nil
				s.reclaim.request()
			}
			continue
		}
		if isComm(m.Header.MsgType) && s.sent.has(m.Header.MsgID) {
			r.invalid.warn(s.log, "dropping a message the kernel sent, replayed", "channel", ch.String(),
				"msg_type", m.Header.MsgType, "msg_id", m.Header.MsgID, "peer", in.from.peer)
			r.release(in)
			continue
		}
		if provesKey(m) {
			in.from.trusted.Store(true)
		}
		s.handle(ch, h, m)
		r.release(in)
	}
}

// provesKey reports whether a message that passed Decode shows that its
// sender holds the key, so that its connection may leave the budget for
// unverified peers. A valid signature alone is not enough: every iopub
// subscriber receives messages signed by the kernel and could replay one.
// The kernel itself never publishes a request or an input_reply, so
// those must come from a client. Without a key nothing can be proven,
// and anyone who can connect may run code anyway: any request counts.
func provesKey(m *protocol.Message) bool {
	t := m.Header.MsgType
	return strings.HasSuffix(t, "_request") || t == "input_reply"
}

func (s *Server) handle(ch protocol.Channel, h Handler, m *protocol.Message) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panicked", "channel", ch.String(), "msg_type", m.Header.MsgType,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	h.HandleMessage(ch, m)
}

// Send signs and sends m on shell, control or stdin, routed by m.Identities. Safe for concurrent use.
// It returns [ErrNoPeer] (wrapped) when no connected client has the routing identity. On IOPub it is
// [Server.Publish].
func (s *Server) Send(ch protocol.Channel, m *protocol.Message) error {
	if ch == protocol.IOPub {
		s.Publish(m)
		return nil
	}
	r := s.router(ch)
	if r == nil {
		return fmt.Errorf("zmtp: cannot send on %s", ch)
	}
	select {
	case <-s.done:
		return ErrServerClosed
	default:
	}
	if len(m.Identities) == 0 {
		return fmt.Errorf("zmtp: %s %s: no routing identity (build replies with NewMessage(parent, ...))", ch, m.Header.MsgType)
	}
	frames, err := protocol.Encode(m, s.signer)
	if err != nil {
		return err
	}
	if isComm(m.Header.MsgType) {
		s.sent.add(m.Header.MsgID)
	}
	return r.send(frames)
}

// Publish signs m and hands its frames to every subscriber whose topics
// match, at once: the transport keeps no queue of its own and never reads
// or changes content, so a kernel that wants stream text merged or output
// held back under backpressure does it before calling Publish (the kernel's
// outbox). Each subscriber has its own bounded outbox and writer; one that
// falls behind its bound is disconnected, never waited for (see [Limits]).
// Publish is safe for concurrent use; messages from one goroutine reach
// every subscriber in the order published.
//
// The first frame on the wire is the topic [protocol.IOPubTopic](m);
// m.Identities are ignored (a message built with NewMessage from a shell
// request carries the shell client's identity, which is no topic). After
// Close, Publish discards m.
func (s *Server) Publish(m *protocol.Message) {
	if m == nil {
		return
	}
	select {
	case <-s.done:
		s.log.Debug("server closed, not publishing", "msg_type", m.Header.MsgType)
		return
	default:
	}
	out := *m
	out.Identities = [][]byte{protocol.IOPubTopic(m)}
	frames, err := protocol.Encode(&out, s.signer)
	if err != nil {
		s.log.Error("cannot encode iopub message", "msg_type", m.Header.MsgType, "err", err)
		return
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if isComm(m.Header.MsgType) {
		s.sent.add(m.Header.MsgID)
	}
	s.iopub.send(frames)
}

// Flush blocks until every message published before the call has been
// written to its subscribers (or the subscriber was dropped as stalled),
// or ctx ends.
func (s *Server) Flush(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrServerClosed
	default:
	}
	return s.iopub.drained(ctx)
}

// Close stops the Server: it gives the subscribers' outboxes a moment to
// go out, then closes every socket and connection. Handlers still running are
// not waited for; their Sends fail with ErrServerClosed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeDrainTimeout)
		_ = s.iopub.drained(ctx) // subscribers' outboxes
		cancel()
		s.pubMu.Lock()
		close(s.done)
		s.pubMu.Unlock()
		for _, sk := range s.sockets {
			sk.close()
		}
		s.log.Info("closed")
	})
	return nil
}
