package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Commands is what the communication port drives.
type Commands interface {
	// Signal delivers a signal number the gateway sent: 0 is a liveness
	// poll, 2 an interrupt, 15 a polite end, 9 a forced one.
	Signal(signum int)
	// Shutdown ends the kernel: the gateway sends it after shutdown_request
	// and whenever it stops a kernel, so the listener and the kernel end
	// together (a refused connection then tells the gateway the kernel is gone).
	Shutdown()
}

// Limits on peers of the communication port. Anyone who can reach the
// port can send a request (that is the gateways' design, so the port must
// only be reachable from the gateway's network); what it cannot do is
// hold the kernel's memory or goroutines.
const (
	commMaxRequest = 4 << 10         // a request is a few bytes of JSON
	commDeadline   = 5 * time.Second // to send it
	commMaxConns   = 8               // served at once; more are closed unread
)

// request is one message of the gateway: {"signum": N} or {"shutdown": 1}.
type request struct {
	Signum   *int            `json:"signum"`
	Shutdown json.RawMessage `json:"shutdown"`
}

// CommListener serves the communication port.
type CommListener struct {
	ln    net.Listener
	cmds  Commands
	log   *slog.Logger
	slots chan struct{}
	wg    sync.WaitGroup
}

// NewCommListener serves requests arriving on ln until Close. Bad requests
// are logged and dropped; the listener keeps serving.
func NewCommListener(ln net.Listener, cmds Commands, log *slog.Logger) *CommListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CommListener{ln: ln, cmds: cmds, log: log, slots: make(chan struct{}, commMaxConns)}
	c.wg.Add(1)
	go c.accept()
	return c
}

// Port is the port the listener is bound to.
func (c *CommListener) Port() int {
	if a, ok := c.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close stops listening at once (a gateway's next poll is refused) and
// waits for the requests being read.
func (c *CommListener) Close() error {
	err := c.ln.Close()
	c.wg.Wait()
	return err
}

func (c *CommListener) accept() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log.Warn("communication port: accept", "err", err)
			}
			return
		}
		select {
		case c.slots <- struct{}{}:
		default:
			c.log.Warn("communication port: too many connections, closing one unread", "peer", conn.RemoteAddr().String())
			conn.Close()
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer func() { <-c.slots }()
			c.serve(conn)
		}()
	}
}

// serve reads one request. The gateway writes a JSON object and may keep
// the connection open, so the request ends where the JSON value does, not
// at end of stream.
func (c *CommListener) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(commDeadline))
	dec := json.NewDecoder(io.LimitReader(conn, commMaxRequest))
	var req request
	if err := dec.Decode(&req); err != nil {
		if !errors.Is(err, io.EOF) { // a bare connect is how some probes look; nothing to say
			c.log.Warn("communication port: bad request", "peer", conn.RemoteAddr().String(), "err", err)
		}
		return
	}
	switch {
	case req.Signum != nil:
		if n := *req.Signum; n < 0 || n > 64 {
			c.log.Warn("communication port: no such signal", "signum", n)
			return
		}
		if *req.Signum != 0 { // polls come every few seconds
			c.log.Info("communication port: signal", "signum", *req.Signum)
		}
		c.cmds.Signal(*req.Signum)
	case truthy(req.Shutdown):
		c.log.Info("communication port: shutdown")
		c.cmds.Shutdown()
	case req.Shutdown != nil:
		// {"shutdown": 0}: nothing asked.
	default:
		c.log.Warn("communication port: request with neither signum nor shutdown", "peer", conn.RemoteAddr().String())
	}
}

// truthy is Python's bool() of a JSON scalar, which is how the gateways'
// own listener reads "shutdown".
func truthy(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "false", "0", "0.0", `""`:
		return false
	}
	return true
}
