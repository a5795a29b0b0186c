package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/protocol"
)

const testKey = "a0436f6c-1916-498b-8eb9-e81ab9368e84"

const okHeader = `{"msg_id":"1","msg_type":"execute_request","session":"s","username":"u","date":"d","version":"5.3"}`

// rawFrames builds a message signed by s from raw parts, to send what
// protocol.Encode never would.
func rawFrames(s *protocol.Signer, ids []string, header, parent, metadata, content string) [][]byte {
	var f [][]byte
	for _, id := range ids {
		f = append(f, []byte(id))
	}
	return append(f, []byte(protocol.Delimiter), []byte(s.Sign([]byte(header), []byte(parent), []byte(metadata), []byte(content))),
		[]byte(header), []byte(parent), []byte(metadata), []byte(content))
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	*Server
	info   protocol.ConnectionInfo
	signer *protocol.Signer
	logs   *logBuffer
	ctx    context.Context
}

// startServer listens on free ports (tcp) or in a temporary folder (ipc)
// and serves h.
func startServer(t *testing.T, transport string, h Handler) *testServer {
	t.Helper()
	return startServerLimits(t, transport, h, DefaultLimits())
}

// startServerLimits is startServer with other limits.
func startServerLimits(t *testing.T, transport string, h Handler, lim Limits) *testServer {
	t.Helper()
	info := &protocol.ConnectionInfo{Transport: transport, IP: "127.0.0.1", Key: testKey, SignatureScheme: protocol.SchemeHMACSHA256}
	if transport == "ipc" {
		info.IP = filepath.Join(t.TempDir(), "k")
		info.ShellPort, info.IOPubPort, info.StdinPort, info.ControlPort, info.HBPort = 1, 2, 3, 4, 5
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s, err := ListenLimits(ctx, info, log, lim)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, h) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		select {
		case err := <-served:
			if err != nil {
				// Serve may start after a quick test has closed.
				assert.ErrorIs(t, err, ErrServerClosed)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
		cancel()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, info: s.Info(), signer: s.Signer(), logs: logs, ctx: ctx}
}

func (ts *testServer) dial(t *testing.T, sk zmq4.Socket, port int) zmq4.Socket {
	t.Helper()
	require.NoError(t, sk.Dial(ts.info.Endpoint(port)))
	t.Cleanup(func() { _ = sk.Close() })
	return sk
}

func (ts *testServer) request(t *testing.T, msgType string, content any) (*protocol.Message, zmq4.Msg) {
	t.Helper()
	m, err := protocol.NewMessage(nil, "client", msgType, content)
	require.NoError(t, err)
	frames, err := protocol.Encode(m, ts.signer)
	require.NoError(t, err)
	return m, zmq4.NewMsgFrom(frames...)
}

// recv reads one message within a timeout.
func recv(t *testing.T, sk zmq4.Socket) zmq4.Msg {
	t.Helper()
	type result struct {
		msg zmq4.Msg
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := sk.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		return r.msg
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a message")
	}
	return zmq4.Msg{}
}

// echoHandler answers every request with <type>_reply on the same channel.
type echoHandler struct {
	s    func() *Server
	seen chan *protocol.Message
}

func (h *echoHandler) HandleMessage(ch protocol.Channel, m *protocol.Message) {
	h.seen <- m
	r, err := protocol.NewMessage(m, "", strings.TrimSuffix(m.Header.MsgType, "_request")+"_reply", map[string]any{"channel": ch.String()})
	if err != nil {
		panic(err)
	}
	if err := h.s().Send(ch, r); err != nil {
		panic(err)
	}
}

func newEcho() (*echoHandler, func(*Server)) {
	var mu sync.Mutex
	var srv *Server
	h := &echoHandler{seen: make(chan *protocol.Message, 100)}
	h.s = func() *Server { mu.Lock(); defer mu.Unlock(); return srv }
	return h, func(s *Server) { mu.Lock(); srv = s; mu.Unlock() }
}

func startEcho(t *testing.T, transport string) (*testServer, *echoHandler) {
	return startEchoLimits(t, transport, DefaultLimits())
}

func startEchoLimits(t *testing.T, transport string, lim Limits) (*testServer, *echoHandler) {
	h, set := newEcho()
	var ts *testServer
	// The handler needs the server; messages can only arrive after a
	// client connects, so setting it right after Listen is early enough.
	ts = startServerLimits(t, transport, h, lim)
	set(ts.Server)
	return ts, h
}

func TestServerShellReplyRoutedToIdentity(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	a := ts.dial(t, zmq4.NewDealer(ts.ctx, zmq4.WithID(zmq4.SocketIdentity("client-a"))), ts.info.ShellPort)
	b := ts.dial(t, zmq4.NewDealer(ts.ctx, zmq4.WithID(zmq4.SocketIdentity("client-b"))), ts.info.ShellPort)

	reqA, wireA := ts.request(t, "kernel_info_request", nil)
	reqB, wireB := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, a.Send(wireA))
	require.NoError(t, b.Send(wireB))

	for _, c := range []struct {
		sk  zmq4.Socket
		req *protocol.Message
	}{{a, reqA}, {b, reqB}} {
		got := recv(t, c.sk)
		m, err := protocol.Decode(got.Frames, ts.signer)
		require.NoError(t, err)
		assert.Equal(t, "kernel_info_reply", m.Header.MsgType)
		assert.Equal(t, c.req.Header, m.ParentHeader)
		assert.Equal(t, "client", m.Header.Session)
		assert.Nil(t, m.Identities, "the routing identity is consumed by the ROUTER")
		assert.JSONEq(t, `{"channel":"shell"}`, string(m.Content))
	}
}

func TestServerSendWithoutPeer(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	m, err := protocol.NewMessage(nil, "s", "x", nil)
	require.NoError(t, err)
	assert.Error(t, ts.Send(protocol.Shell, m), "no identity")
	m.Identities = [][]byte{[]byte("nobody")}
	assert.ErrorIs(t, ts.Send(protocol.Shell, m), ErrNoPeer)
	assert.Error(t, ts.Send(protocol.Heartbeat, m))
}

func TestServerControlWhileShellBlocks(t *testing.T) {
	release := make(chan struct{})
	shellStarted := make(chan struct{})
	var srv *Server
	var mu sync.Mutex
	h := HandlerFunc(func(ch protocol.Channel, m *protocol.Message) {
		if ch == protocol.Shell {
			close(shellStarted)
			<-release
		}
		mu.Lock()
		s := srv
		mu.Unlock()
		r, _ := protocol.NewMessage(m, "", "reply", nil)
		_ = s.Send(ch, r)
	})
	ts := startServer(t, "tcp", h)
	mu.Lock()
	srv = ts.Server
	mu.Unlock()

	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)
	control := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ControlPort)
	_, w := ts.request(t, "execute_request", map[string]any{"code": "while True: pass"})
	require.NoError(t, shell.Send(w))
	<-shellStarted

	req, w := ts.request(t, "interrupt_request", nil)
	require.NoError(t, control.Send(w))
	got, err := protocol.Decode(recv(t, control).Frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, req.Header.MsgID, got.ParentHeader.MsgID)

	close(release)
	_, err = protocol.Decode(recv(t, shell).Frames, ts.signer)
	require.NoError(t, err)
}

func TestServerStdin(t *testing.T) {
	ts, h := startEcho(t, "tcp")
	stdin := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.StdinPort)
	_, w := ts.request(t, "input_request", nil)
	require.NoError(t, stdin.Send(w))
	m := <-h.seen
	assert.Equal(t, "input_request", m.Header.MsgType)
	got, err := protocol.Decode(recv(t, stdin).Frames, ts.signer)
	require.NoError(t, err)
	assert.JSONEq(t, `{"channel":"stdin"}`, string(got.Content))
}

func TestHeartbeatEcho(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	req := ts.dial(t, zmq4.NewReq(ts.ctx), ts.info.HBPort)
	for i := range 3 {
		payload := []byte(fmt.Sprintf("ping %d", i))
		require.NoError(t, req.Send(zmq4.NewMsg(payload)))
		got := recv(t, req)
		assert.Equal(t, [][]byte{payload}, got.Frames)
	}
	// Odd shapes are echoed as they came, never fatal.
	d := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.HBPort)
	require.NoError(t, d.Send(zmq4.NewMsgFrom([]byte{}, []byte("a"), []byte{})))
	assert.Equal(t, [][]byte{{}, []byte("a"), {}}, recv(t, d).Frames)
}

func TestServerDropsInvalidMessages(t *testing.T) {
	ts, h := startEcho(t, "tcp")
	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)

	unsignedMsg, err := protocol.NewMessage(nil, "c", "kernel_info_request", nil)
	require.NoError(t, err)
	unsigned, err := protocol.Encode(unsignedMsg, nil)
	require.NoError(t, err)
	_, valid := ts.request(t, "kernel_info_request", nil)
	badJSON := rawFrames(ts.signer, nil, okHeader, `{}`, `{}`, `{"code":`)

	for _, frames := range [][][]byte{
		{[]byte("garbage")},
		{{}},
		{[]byte(protocol.Delimiter), []byte("sig")},
		unsigned,
		badJSON,
	} {
		require.NoError(t, shell.Send(zmq4.NewMsgFrom(frames...)))
	}
	require.NoError(t, shell.Send(valid))

	got, err := protocol.Decode(recv(t, shell).Frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, "kernel_info_reply", got.Header.MsgType)
	require.Len(t, h.seen, 1, "only the valid message reached the handler")

	logs := ts.logs.String()
	assert.Equal(t, 5, strings.Count(logs, "dropping invalid message"), logs)
	assert.Contains(t, logs, "level=WARN")
	assert.Contains(t, logs, "channel=shell")
	assert.Contains(t, logs, "bad signature")
	assert.Contains(t, logs, "no <IDS|MSG> delimiter")
	assert.Contains(t, logs, "content: protocol: bad JSON")
}

func TestServerDuplicateIdentity(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	old := ts.dial(t, zmq4.NewDealer(ts.ctx, zmq4.WithID(zmq4.SocketIdentity("same"))), ts.info.ShellPort)
	// Make sure the first connection is registered before the second.
	_, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, old.Send(w))
	recv(t, old)

	// A second peer claims the identity (anyone can read a client's
	// session id off iopub): as with libzmq's ROUTER, it is held back,
	// neither read from nor sent anything, and the holder keeps its
	// replies.
	thief := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort), zmq4.Dealer, "same")
	require.Eventually(t, func() bool { return strings.Contains(ts.logs.String(), "routing identity already in use") }, 5*time.Second, 5*time.Millisecond)
	waiting, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, thief.write(w.Frames, false, time.Second))

	for range 3 {
		req, w := ts.request(t, "kernel_info_request", nil)
		require.NoError(t, old.Send(w))
		got, err := protocol.Decode(recv(t, old).Frames, ts.signer)
		require.NoError(t, err)
		assert.Equal(t, req.Header.MsgID, got.ParentHeader.MsgID)
	}
	_ = thief.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, err := readTest(thief.br)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the newcomer received something: %v", err)
	_ = thief.nc.SetReadDeadline(time.Time{})

	// Once the holder is gone, the identity goes to the connection that
	// waited (a client that reconnected), and what it sent meanwhile is
	// served.
	require.NoError(t, old.Close())
	_ = thief.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	frames, _, err := readTest(thief.br)
	require.NoError(t, err)
	got, err := protocol.Decode(frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, waiting.Header.MsgID, got.ParentHeader.MsgID)
}

func TestHeldBackConnectionThatLeavesIsForgotten(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort)
	holder := rawClient(t, addr, zmq4.Dealer, "same")
	kernelInfo(t, ts, holder)
	for range 5 {
		c := rawClient(t, addr, zmq4.Dealer, "same")
		c.close()
	}
	// The five that left while held back no longer take a slot.
	require.Eventually(t, func() bool {
		sk := ts.shell.socket
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return len(sk.raw) == 1
	}, 5*time.Second, 5*time.Millisecond)
	kernelInfo(t, ts, holder)
}

func TestServerSurvivesStalledHandshake(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	// A client that connects and says nothing must not keep others out.
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort))
	require.NoError(t, err)
	defer raw.Close()

	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)
	_, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, shell.Send(w))
	recv(t, shell)
}

// rawClient completes a ZMTP handshake with zmq4.Open and then talks raw
// frames, to send what no well-behaved socket would.
func rawClient(t *testing.T, addr string, typ zmq4.SocketType, id ...string) *zconn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = zmq4.Open(nc, null.Security(), typ, zmq4.SocketIdentity(strings.Join(id, "")), false, nil)
	require.NoError(t, err)
	c := newZconn(nc)
	t.Cleanup(c.close)
	return c
}

func TestServerAnswersPingAndSurvivesOddFrames(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	c := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort), zmq4.Dealer)

	ping := append([]byte{4, 'P', 'I', 'N', 'G', 0, 10}, "ctx"...)
	require.NoError(t, c.write([][]byte{ping}, true, time.Second))
	frames, cmd, err := readTest(c.br)
	require.NoError(t, err)
	assert.True(t, cmd)
	assert.Equal(t, append([]byte{4, 'P', 'O', 'N', 'G'}, "ctx"...), frames[0])

	// An unknown command, an oversized message, then a valid request.
	require.NoError(t, c.write([][]byte{[]byte("\x05HELLO")}, true, time.Second))
	var huge []byte
	huge = appendFrameHeader(huge, flagMore, 3)
	huge = append(huge, "abc"...)
	huge = appendFrameHeader(huge, 0, int(DefaultLimits().MaxFrame)+1)
	_, err = c.nc.Write(huge)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(ts.logs.String(), "over the limit")
	}, 5*time.Second, 10*time.Millisecond, "the oversized frame is noticed from its header")

	// The server closed that connection at the frame header; others are
	// still served.
	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)
	_, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, shell.Send(w))
	recv(t, shell)
}

func TestServerGeneratedIdentity(t *testing.T) {
	ts, h := startEcho(t, "tcp")
	// Like libzmq without ZMQ_IDENTITY: the peer announces none.
	c := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.ShellPort), zmq4.Dealer)
	_, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, c.write(w.Frames, false, time.Second))
	m := <-h.seen
	require.Len(t, m.Identities, 1)
	assert.Len(t, m.Identities[0], 5)
	assert.Equal(t, byte(0), m.Identities[0][0])
	frames, cmd, err := readTest(c.br)
	require.NoError(t, err)
	assert.False(t, cmd)
	got, err := protocol.Decode(frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, "kernel_info_reply", got.Header.MsgType)
}

func TestServerIPC(t *testing.T) {
	ts, _ := startEcho(t, "ipc")
	assert.True(t, strings.HasPrefix(ts.info.Endpoint(ts.info.ShellPort), "ipc://"))

	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)
	req, w := ts.request(t, "kernel_info_request", nil)
	require.NoError(t, shell.Send(w))
	got, err := protocol.Decode(recv(t, shell).Frames, ts.signer)
	require.NoError(t, err)
	assert.Equal(t, req.Header.MsgID, got.ParentHeader.MsgID)

	hb := ts.dial(t, zmq4.NewReq(ts.ctx), ts.info.HBPort)
	require.NoError(t, hb.Send(zmq4.NewMsgString("ping")))
	assert.Equal(t, "ping", string(recv(t, hb).Frames[0]))

	sub := subscribe(t, ts)
	m, err := protocol.NewMessage(nil, "k", "status", map[string]any{"execution_state": "idle"})
	require.NoError(t, err)
	ts.Publish(m)
	assert.Equal(t, "status", decodeIOPub(t, ts, recv(t, sub)).Header.MsgType)
}

func TestListenAnyAddress(t *testing.T) {
	for _, ip := range []string{"*", "0.0.0.0"} {
		t.Run(ip, func(t *testing.T) {
			s, err := Listen(context.Background(), &protocol.ConnectionInfo{IP: ip}, nil)
			require.NoError(t, err)
			defer s.Close()
			info := s.Info()
			assert.NotZero(t, info.HBPort)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := zmq4.NewReq(ctx)
			defer req.Close()
			require.NoError(t, req.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", info.HBPort)))
			require.NoError(t, req.Send(zmq4.NewMsgString("x")))
			m, err := req.Recv()
			require.NoError(t, err)
			assert.Equal(t, "x", string(m.Frames[0]))
		})
	}
}

func TestListenErrors(t *testing.T) {
	_, err := Listen(context.Background(), &protocol.ConnectionInfo{Transport: "udp", IP: "127.0.0.1"}, nil)
	assert.ErrorContains(t, err, "unsupported transport")

	// A port already taken fails cleanly and releases what was bound.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	_, err = Listen(context.Background(), &protocol.ConnectionInfo{IP: "127.0.0.1", HBPort: port}, nil)
	assert.ErrorContains(t, err, "binding heartbeat")
}

func TestListenClosesWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Listen(ctx, &protocol.ConnectionInfo{IP: "127.0.0.1"}, nil)
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool {
		select {
		case <-s.done:
			return true
		default:
			return false
		}
	}, 5*time.Second, 5*time.Millisecond)
	assert.ErrorIs(t, s.Serve(context.Background(), HandlerFunc(func(protocol.Channel, *protocol.Message) {})), ErrServerClosed)
}

func TestServerHandlerPanicIsLogged(t *testing.T) {
	calls := make(chan struct{}, 2)
	ts := startServer(t, "tcp", HandlerFunc(func(ch protocol.Channel, m *protocol.Message) {
		calls <- struct{}{}
		panic("boom")
	}))
	shell := ts.dial(t, zmq4.NewDealer(ts.ctx), ts.info.ShellPort)
	for range 2 {
		_, w := ts.request(t, "kernel_info_request", nil)
		require.NoError(t, shell.Send(w))
	}
	<-calls
	<-calls
	require.Eventually(t, func() bool { return strings.Count(ts.logs.String(), "handler panicked") == 2 }, 5*time.Second, 5*time.Millisecond)
}

// subscribe connects a SUB socket to iopub and waits until the server has
// its subscription.
func subscribe(t *testing.T, ts *testServer) zmq4.Socket {
	t.Helper()
	before := ts.iopub.subscribed()
	sub := ts.dial(t, zmq4.NewSub(ts.ctx), ts.info.IOPubPort)
	require.NoError(t, sub.SetOption(zmq4.OptionSubscribe, ""))
	require.Eventually(t, func() bool { return ts.iopub.subscribed() > before }, 5*time.Second, time.Millisecond)
	return sub
}

func decodeIOPub(t *testing.T, ts *testServer, msg zmq4.Msg) *protocol.Message {
	t.Helper()
	m, err := protocol.Decode(msg.Frames, ts.signer)
	require.NoError(t, err)
	require.Len(t, m.Identities, 1)
	assert.Equal(t, string(protocol.IOPubTopic(m)), string(m.Identities[0]))
	return m
}

func streamMsg(t *testing.T, parent *protocol.Message, name, text string) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(parent, "k", "stream", map[string]string{"name": name, "text": text})
	require.NoError(t, err)
	return m
}

func statusMsg(t *testing.T, parent *protocol.Message, state string) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(parent, "k", "status", map[string]string{"execution_state": state})
	require.NoError(t, err)
	return m
}

// The transport hands on what it is given: adjacent stream messages of one
// parent stay apart (merging them is the kernel's outbox's job) and
// content reaches subscribers byte for byte, however it is spelled.
func TestPublishNeverMergesOrRewritesContent(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	sub := subscribe(t, ts)
	p1, _ := ts.request(t, "execute_request", nil)
	p1.Identities = [][]byte{[]byte("shell-client")}
	odd := streamMsg(t, p1, "stdout", "c")
	odd.Content = []byte(`{ "text" : "c\u00e7", "name":"stdout" }`)
	in := []*protocol.Message{
		streamMsg(t, p1, "stdout", "a"),
		streamMsg(t, p1, "stdout", "b"),
		odd,
		statusMsg(t, p1, "idle"),
	}
	for _, m := range in {
		ts.Publish(m)
	}
	require.NoError(t, ts.Flush(context.Background()))
	for i, w := range in {
		m := decodeIOPub(t, ts, recv(t, sub))
		assert.Equal(t, w.Header.MsgID, m.Header.MsgID, "message %d", i)
		assert.Equal(t, string(w.Content), string(m.Content), "content of message %d as published", i)
		assert.Equal(t, "kernel.client."+w.Header.MsgType, string(m.Identities[0]), "topic, not the shell identity")
	}
	assert.Equal(t, [][]byte{[]byte("shell-client")}, p1.Identities, "the caller's message is not changed")
	assert.Len(t, in[0].Identities, 1, "nor are the identities of what was published")
}

// The transport must not read message content: it sees frames, routing
// identities, channels and headers. This keeps the promise checkable in
// review: no file of the package touches a message's Content, Metadata or
// Buffers, or decodes content.
func TestTransportNeverReadsContent(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		checked++
		// zmq4.Metadata and net.Buffers are other packages' types, not
		// fields of a message.
		imported := map[string]bool{}
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			name := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			imported[name] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && imported[pkg.Name] {
					return true
				}
				switch sel.Sel.Name {
				case "Content", "Metadata", "Buffers", "DecodeContent":
					t.Errorf("%s: the transport reads .%s of a message", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
	require.Greater(t, checked, 3, "the package's files were found")
}

func TestPublishTopicFilter(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	other := ts.dial(t, zmq4.NewSub(ts.ctx), ts.info.IOPubPort)
	require.NoError(t, other.SetOption(zmq4.OptionSubscribe, "nomatch"))
	statusOnly := ts.dial(t, zmq4.NewSub(ts.ctx), ts.info.IOPubPort)
	require.NoError(t, statusOnly.SetOption(zmq4.OptionSubscribe, "kernel.k.status"))
	require.Eventually(t, func() bool { return ts.iopub.subscribed() == 2 }, 5*time.Second, time.Millisecond)

	ts.Publish(streamMsg(t, nil, "stdout", "x"))
	ts.Publish(statusMsg(t, nil, "idle"))
	require.NoError(t, ts.Flush(context.Background()))
	assert.Equal(t, "status", decodeIOPub(t, ts, recv(t, statusOnly)).Header.MsgType)

	got := make(chan struct{})
	go func() {
		if _, err := other.Recv(); err == nil {
			close(got)
		}
	}()
	select {
	case <-got:
		t.Fatal("a subscriber got a topic it did not subscribe to")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPublishOrderAndFlush(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	sub1 := subscribe(t, ts)
	sub2 := subscribe(t, ts)
	const n = 300
	for i := range n {
		m, err := protocol.NewMessage(nil, "k", "execute_result", map[string]any{"execution_count": i})
		require.NoError(t, err)
		ts.Publish(m)
	}
	require.NoError(t, ts.Flush(context.Background()))
	for _, sub := range []zmq4.Socket{sub1, sub2} {
		for i := range n {
			var c struct {
				ExecutionCount int `json:"execution_count"`
			}
			require.NoError(t, decodeIOPub(t, ts, recv(t, sub)).DecodeContent(&c))
			require.Equal(t, i, c.ExecutionCount)
		}
	}
	// Flush with nothing pending returns at once.
	require.NoError(t, ts.Flush(context.Background()))
}

// Flush waits for the subscribers' outboxes: while a subscriber that does
// not read holds a message, a Flush with a deadline reports it; once the
// subscriber is gone, Flush returns.
func TestFlushWaitsForSubscribers(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	stalled := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.IOPubPort), zmq4.Sub)
	require.NoError(t, stalled.write([][]byte{{1}}, false, time.Second))
	require.Eventually(t, func() bool { return ts.iopub.subscribed() == 1 }, 5*time.Second, time.Millisecond)
	// Far more than the kernel's and the peer's socket buffers take.
	m, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{"data": map[string]any{"text/plain": strings.Repeat("x", 32<<20)}})
	require.NoError(t, err)
	ts.Publish(m)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, ts.Flush(ctx), context.DeadlineExceeded)
	stalled.close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	require.NoError(t, ts.Flush(ctx2), "a subscriber that left holds nothing")
}

func TestPublishAfterClose(t *testing.T) {
	s, err := Listen(context.Background(), &protocol.ConnectionInfo{IP: "127.0.0.1"}, nil)
	require.NoError(t, err)
	s.Publish(statusMsg(t, nil, "idle"))
	require.NoError(t, s.Close())
	s.Publish(statusMsg(t, nil, "idle")) // discarded, does not block
	m, err := protocol.NewMessage(nil, "s", "x", nil)
	require.NoError(t, err)
	m.Identities = [][]byte{[]byte("id")}
	assert.ErrorIs(t, s.Send(protocol.Shell, m), ErrServerClosed)
	require.NoError(t, s.Close(), "Close twice is fine")
}

func TestStalledSubscriberIsDropped(t *testing.T) {
	ts, _ := startEcho(t, "tcp")
	// A deadline well beyond what the reading subscriber needs even on
	// a loaded machine with the race detector: had the stalled one held
	// it up, the test would see this delay.
	for _, sk := range ts.sockets {
		sk.stall = 20 * time.Second
	}
	// A subscriber that never reads.
	stalled := rawClient(t, fmt.Sprintf("127.0.0.1:%d", ts.info.IOPubPort), zmq4.Sub)
	require.NoError(t, stalled.write([][]byte{{1}}, false, time.Second))
	require.Eventually(t, func() bool { return ts.iopub.subscribed() == 1 }, 5*time.Second, time.Millisecond)
	sub := subscribe(t, ts)

	big := strings.Repeat("x", 256<<10)
	start := time.Now()
	for i := range 64 {
		m, err := protocol.NewMessage(nil, "k", "display_data", map[string]any{"data": map[string]any{"text/plain": big}, "i": i})
		require.NoError(t, err)
		ts.Publish(m)
	}
	done := make(chan []zmq4.Msg)
	go func() {
		var got []zmq4.Msg
		for range 64 {
			m, err := sub.Recv()
			if err != nil {
				break
			}
			got = append(got, m)
		}
		done <- got
	}()
	select {
	case got := <-done:
		// Well before the stalled subscriber's 20 s deadline: it never
		// delayed the reading one (each subscriber has its own writer).
		require.Less(t, time.Since(start), 15*time.Second)
		require.Len(t, got, 64, "the reading subscriber got everything")
		for i, m := range got {
			var c struct{ I int }
			require.NoError(t, decodeIOPub(t, ts, m).DecodeContent(&c))
			assert.Equal(t, i, c.I)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the stalled subscriber starved the other")
	}
	// The stalled subscriber goes away; its writer notices and Flush
	// returns without waiting for the write deadline.
	stalled.close()
	require.NoError(t, ts.Flush(context.Background()))
	assert.Contains(t, ts.logs.String(), "disconnecting subscriber")
}
