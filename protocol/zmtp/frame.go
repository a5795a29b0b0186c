package zmtp

// ZMTP 3.0 framing after the handshake. The handshake itself (greeting and
// NULL-mechanism READY exchange) is zmq4.Open's; everything after it is
// read and written here so that sizes are bounded before allocation, a
// message over a limit is skipped without closing the connection, PING is
// answered with PONG, and one writer at a time owns a connection.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasipy/wasipy/protocol"
)

const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04

	// maxWireFrames bounds the frames of one message: a message with more
	// is read to its end and dropped, and the connection stays open.
	maxWireFrames = protocol.MaxFrames

	// handshakeTimeout bounds the greeting and READY exchange of one
	// connection; a peer that stays silent is dropped.
	handshakeTimeout = 10 * time.Second
	// maxHandshakeFrame bounds the READY command (its metadata is a few
	// dozen bytes from every known peer) and every later command.
	maxHandshakeFrame = 64 << 10
	greetingSize      = 64

	// growChunk is the largest allocation made ahead of data arriving.
	growChunk = 1 << 20
)

// errDropped reports a message that was read to its end and skipped.
var errDropped = errors.New("message dropped")

// errProtocol reports a ZMTP framing error that ends a connection.
var errProtocol = errors.New("ZMTP framing error")

// errTooLarge reports a frame or message over the size limits, or over
// the unverified budget; it ends the connection at the frame header,
// before anything is read or allocated for the body.
var errTooLarge = errors.New("over the size limit")

// readLimits is what readMsg enforces besides ZMTP itself.
type readLimits struct {
	maxFrame, maxMessage uint64
	// budget, when set, is charged with every frame's announced size
	// before its body is read, unless verified is set by then (the peer
	// has proven it holds the key; the dispatcher may learn that while
	// the next message is being read). The caller gives back the
	// returned held bytes once it is done with the frames.
	budget   *budget
	verified *atomic.Bool
	// msgTime and deadline bound how long one message may take once its
	// first byte is in (msgTime plus a second per announced MiB).
	// deadline sets the connection's read deadline; nil in unit tests.
	msgTime  time.Duration
	deadline func(time.Time)
	// reclaim is asked to hand memory back after a large message is
	// abandoned halfway; may be nil.
	reclaim *reclaimer
}

// readMsg reads one ZMTP message (all its frames) or one command. With
// too many frames it discards the rest of the message and returns
// errDropped; over a size limit or the budget it returns errTooLarge at
// the frame header. held is what was charged to lim.budget for the frames
// returned; on error nothing stays charged.
func readMsg(br *bufio.Reader, lim *readLimits) (frames [][]byte, command bool, held int64, err error) {
	var total, allocated, granted uint64
	dropped := ""
	var start time.Time
	defer func() {
		if err != nil {
			if lim.budget != nil {
				lim.budget.give(held)
			}
			held = 0
			frames = nil
			if allocated >= reclaimThreshold {
				lim.reclaim.request()
			}
		}
		if !start.IsZero() && lim.deadline != nil {
			// Between messages a connection may stay idle.
			lim.deadline(time.Time{})
		}
	}()
	for n := 0; ; n++ {
		flags, err := br.ReadByte()
		if err != nil {
			if n > 0 {
				err = noEOF(err)
			}
			return nil, false, held, err
		}
		if start.IsZero() {
			start = time.Now()
			if lim.deadline != nil {
				lim.deadline(start.Add(lim.msgTime))
			}
		}
		if flags&^byte(flagMore|flagLong|flagCommand) != 0 {
			return nil, false, held, fmt.Errorf("%w: reserved flag bits %#x", errProtocol, flags)
		}
		var size uint64
		if flags&flagLong != 0 {
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return nil, false, held, noEOF(err)
			}
			size = binary.BigEndian.Uint64(b[:])
		} else {
			b, err := br.ReadByte()
			if err != nil {
				return nil, false, held, noEOF(err)
			}
			size = uint64(b)
		}
		if flags&flagCommand != 0 {
			if n > 0 || flags&flagMore != 0 {
				return nil, false, held, fmt.Errorf("%w: command frame inside a message", errProtocol)
			}
			if size > maxHandshakeFrame {
				return nil, false, held, fmt.Errorf("%w: command of %d bytes", errProtocol, size)
			}
			body, err := readBody(br, size)
			if err != nil {
				return nil, false, held, noEOF(err)
			}
			return [][]byte{body}, true, held, nil
		}
		// Checked in this order so that an overflowing size cannot wrap
		// total around.
		switch {
		case size > lim.maxFrame:
			return nil, false, held, fmt.Errorf("%w: frame of %d bytes over the limit of %d", errTooLarge, size, lim.maxFrame)
		case total+size > lim.maxMessage:
			return nil, false, held, fmt.Errorf("%w: message of more than %d bytes over the limit of %d", errTooLarge, total+size, lim.maxMessage)
		case dropped == "" && n >= maxWireFrames:
			dropped = fmt.Sprintf("more than %d frames", maxWireFrames)
		}
		total += size
		if lim.deadline != nil && total>>20 > granted {
			// A second more for every MiB announced, however it is
			// split into frames.
			granted = total >> 20
			lim.deadline(start.Add(lim.msgTime + time.Duration(granted)*time.Second))
		}
		if dropped != "" {
			if lim.budget != nil {
				lim.budget.give(held)
				held = 0
			}
			frames = nil
			if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
				return nil, false, held, noEOF(err)
			}
		} else {
			if lim.budget != nil && (lim.verified == nil || !lim.verified.Load()) {
				if !lim.budget.take(int64(size)) {
					return nil, false, held, fmt.Errorf("%w: frame of %d bytes over what is left of the budget for unverified peers (%d bytes)",
						errTooLarge, size, lim.budget.max)
				}
				held += int64(size)
			}
			allocated += size
			body, err := readBody(br, size)
			if err != nil {
				return nil, false, held, noEOF(err)
			}
			frames = append(frames, body)
		}
		if flags&flagMore == 0 {
			if dropped != "" {
				return nil, false, held, fmt.Errorf("%w: %s", errDropped, dropped)
			}
			return frames, false, held, nil
		}
	}
}

// noEOF turns the end of the stream inside a message into
// io.ErrUnexpectedEOF: only an end between messages is a clean close.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads size bytes, allocating as the data arrives rather than
// trusting the announced size: the buffer doubles (never beyond size) as
// it fills, so a peer that announces much and sends little costs only what
// it sends, and reading a frame never holds more than twice its size at
// once.
func readBody(r io.Reader, size uint64) ([]byte, error) {
	if size <= growChunk {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	buf := make([]byte, 0, growChunk)
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if uint64(len(buf)) == size {
			return buf, nil
		}
		grown := make([]byte, len(buf), min(2*uint64(cap(buf)), size))
		copy(grown, buf)
		buf = grown
	}
}

// appendFrameHeader appends the ZMTP header of a frame of size bytes.
func appendFrameHeader(dst []byte, flags byte, size int) []byte {
	if size > 255 {
		dst = append(dst, flags|flagLong)
		return binary.BigEndian.AppendUint64(dst, uint64(size))
	}
	return append(dst, flags, byte(size))
}

// zconn is one ZMTP connection after its handshake.
type zconn struct {
	nc   net.Conn
	br   *bufio.Reader
	peer string // remote address, for logs
	id   []byte // ROUTER routing identity

	// trusted is set once the peer has sent a validly signed request:
	// it holds the key, and its messages are no longer charged to the
	// budget for unverified peers.
	trusted atomic.Bool

	wmu       sync.Mutex
	closeOnce sync.Once
}

func newZconn(nc net.Conn) *zconn {
	peer := nc.RemoteAddr().String()
	if peer == "" || peer == "@" {
		peer = nc.LocalAddr().Network()
	}
	return &zconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), peer: peer}
}

func (c *zconn) close() {
	c.closeOnce.Do(func() { _ = c.nc.Close() })
}

// writeTimeout is how long one message may take to write to one peer
// before the peer is taken for stalled and disconnected.
func writeTimeout(base time.Duration, frames [][]byte) time.Duration {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return base + time.Duration(n>>20)*time.Second
}

// write sends frames as one message (or, with command set, one command
// frame). Writes to one connection never interleave.
func (c *zconn) write(frames [][]byte, command bool, timeout time.Duration) error {
	if len(frames) == 0 {
		return fmt.Errorf("zmtp: empty message")
	}
	hdrs := make([]byte, 0, 9*len(frames))
	bufs := make(net.Buffers, 0, 2*len(frames))
	offsets := make([]int, 0, len(frames)+1)
	for i, f := range frames {
		var flags byte
		if command {
			flags = flagCommand
		} else if i < len(frames)-1 {
			flags = flagMore
		}
		offsets = append(offsets, len(hdrs))
		hdrs = appendFrameHeader(hdrs, flags, len(f))
	}
	offsets = append(offsets, len(hdrs))
	for i, f := range frames {
		bufs = append(bufs, hdrs[offsets[i]:offsets[i+1]])
		if len(f) > 0 {
			bufs = append(bufs, f)
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if timeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	}
	_, err := bufs.WriteTo(c.nc)
	if err != nil {
		// A half-written message leaves the stream unusable.
		c.close()
	}
	return err
}

// command names a ZMTP command frame and its data.
func parseCommand(frame []byte) (name string, data []byte, ok bool) {
	if len(frame) == 0 || int(frame[0]) > len(frame)-1 {
		return "", nil, false
	}
	n := int(frame[0])
	return string(frame[1 : 1+n]), frame[1+n:], true
}

// handleCommand answers PING with PONG; other commands are reported to the
// caller by name.
func (c *zconn) handleCommand(frame []byte, timeout time.Duration) (name string, data []byte, err error) {
	name, data, ok := parseCommand(frame)
	if !ok {
		return "", nil, fmt.Errorf("%w: malformed command", errProtocol)
	}
	if name == "PING" {
		// PING carries a 2-byte TTL then a context that PONG echoes.
		ctx := []byte{}
		if len(data) >= 2 {
			ctx = data[2:]
		}
		pong := append([]byte{4, 'P', 'O', 'N', 'G'}, ctx...)
		return name, data, c.write([][]byte{pong}, true, timeout)
	}
	return name, data, nil
}

// guardConn bounds what a peer can make zmq4.Open allocate during the
// handshake: the greeting passes, then every frame header is parsed as it
// streams by and a frame announced over maxHandshakeFrame fails the read
// that carries its size, before zmq4 sees it.
type guardConn struct {
	net.Conn
	greeting int    // greeting bytes still to pass
	hdr      []byte // header bytes of the current frame
	body     uint64 // body bytes of the current frame still to pass
}

func (g *guardConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	for _, b := range p[:n] {
		switch {
		case g.greeting > 0:
			g.greeting--
		case g.body > 0:
			g.body--
		default:
			g.hdr = append(g.hdr, b)
			want := 2
			if g.hdr[0]&flagLong != 0 {
				want = 9
			}
			if len(g.hdr) < want {
				continue
			}
			var size uint64
			if want == 9 {
				size = binary.BigEndian.Uint64(g.hdr[1:9])
			} else {
				size = uint64(g.hdr[1])
			}
			g.hdr = g.hdr[:0]
			if size > maxHandshakeFrame {
				return 0, fmt.Errorf("%w: handshake frame of %d bytes", errProtocol, size)
			}
			g.body = size
		}
	}
	return n, err
}

// listenEndpoint binds a ZeroMQ endpoint: "tcp://host:port" ("*" or empty
// host means every IPv4 interface, "*" or 0 port means any free port) or
// "ipc://path" (a Unix socket; a stale socket file left by a dead process
// is removed first).
func listenEndpoint(endpoint string) (net.Listener, error) {
	scheme, addr, ok := strings.Cut(endpoint, "://")
	if !ok {
		return nil, fmt.Errorf("zmtp: invalid endpoint %q", endpoint)
	}
	switch scheme {
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("zmtp: invalid endpoint %q: %w", endpoint, err)
		}
		if host == "" || host == "*" {
			host = "0.0.0.0"
		}
		if port == "*" || port == "" {
			port = "0"
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("zmtp: invalid port in %q", endpoint)
		}
		return net.Listen("tcp", net.JoinHostPort(host, port))
	case "ipc":
		if addr == "" {
			return nil, fmt.Errorf("zmtp: empty ipc path in %q", endpoint)
		}
		removeStaleSocket(addr)
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		// Connecting to a Unix socket needs write permission on its
		// file. The umask usually leaves others without it, but it is
		// the user's setting; only the kernel's user may connect.
		if err := os.Chmod(addr, 0o600); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("zmtp: restricting %s to its owner: %w", addr, err)
		}
		return ln, nil
	default:
		return nil, fmt.Errorf("zmtp: unsupported transport in %q", endpoint)
	}
}

// removeStaleSocket removes path when it is a Unix socket nobody listens on.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return
	}
	_ = os.Remove(path)
}
