package kernelcmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/launcher"
	"github.com/wasipy/wasipy/protocol"
)

// The tests in this file play the gateway: they start `wasipy-kernel
// launch` as Enterprise Gateway or gateway_provisioners would, and drive it
// only through what the contract gives them (the payload, the five
// sockets, the communication port).

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// kernelBinary builds this command once per test run.
func kernelBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasipy-launch-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "wasipy-kernel")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", builtBin, "../cmd/kernel").CombinedOutput() // the stock kernel, built from this package
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

func pythonWasmForTest(t *testing.T) string {
	p := interp.PythonWasm()
	if _, err := os.Stat(p); err != nil {
		t.Skipf("python.wasm not found at %s (run ./install.sh or set WASIPY_PYTHON_WASM)", p)
	}
	return p
}

// gateway is the gateway's side: a key pair and a response address.
type gateway struct {
	priv *rsa.PrivateKey
	pub  string
	resp net.Listener
}

func newGateway(t *testing.T) *gateway {
	priv, err := rsa.GenerateKey(rand.Reader, 1024) // the gateways' size
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return &gateway{priv: priv, pub: base64.StdEncoding.EncodeToString(der), resp: ln}
}

// launched is a kernel started through the launcher contract.
type launched struct {
	cmd    *exec.Cmd
	info   launcher.ConnectionInfo
	stderr string        // the file the kernel's stderr goes to
	exited chan error    // receives Wait's error once
	done   chan struct{} // closed when the process was waited for
}

func (g *gateway) launch(t *testing.T, kernelID, portRange string, extraEnv ...string) *launched {
	t.Helper()
	cmd := exec.Command(kernelBinary(t), "launch", "--RemoteProcessProxy.kernel-id", kernelID,
		"--spark-context-initialization-mode", "none",
		"--python-wasm", pythonWasmForTest(t), "--history-dir", "", "--ip", "127.0.0.1")
	// The response address, key and range come from the environment, as
	// in a Kubernetes pod.
	cmd.Env = append(os.Environ(), "EG_RESPONSE_ADDRESS="+g.resp.Addr().String(), "PUBLIC_KEY="+g.pub, "PORT_RANGE="+portRange)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Dir = t.TempDir()
	// A file, not a buffer: Wait must not wait for the interpreter worker,
	// which shares the kernel's stderr, to close it.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	l := &launched{cmd: cmd, stderr: stderr.Name(), exited: make(chan error, 1), done: make(chan struct{})}
	go func() { l.exited <- cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-l.done
		if t.Failed() {
			t.Logf("kernel stderr:\n%s", l.log())
		}
	})

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := g.resp.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case err := <-l.exited:
		t.Fatalf("kernel exited before reporting: %v\n%s", err, l.log())
	case <-time.After(90 * time.Second):
		t.Fatalf("no connection info within 90 s\n%s", l.log())
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	payload, err := io.ReadAll(conn)
	require.NoError(t, err)
	l.info, err = launcher.Open(payload, g.priv)
	require.NoError(t, err)
	return l
}

func (l *launched) log() string {
	b, _ := os.ReadFile(l.stderr)
	return string(b)
}

// client is a minimal Jupyter client over zmq4.
type client struct {
	ctx                   context.Context
	signer                *protocol.Signer
	shell, control, iopub zmq4.Socket
	session               string
	// in holds what each socket's one reader goroutine received: a wait
	// that times out leaves no Recv behind to swallow a later message.
	in map[zmq4.Socket]chan received
}

type received struct {
	m   zmq4.Msg
	err error
}

// read is a socket's only reader, for the client's whole life.
func (c *client) read(sk zmq4.Socket) {
	for {
		m, err := sk.Recv()
		select {
		case c.in[sk] <- received{m, err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func connect(t *testing.T, info launcher.ConnectionInfo) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	signer, err := protocol.NewSigner(info.SignatureScheme, info.Key)
	require.NoError(t, err)
	addr := func(p int) string { return "tcp://127.0.0.1:" + strconv.Itoa(p) }
	c := &client{ctx: ctx, signer: signer, session: "gateway-test",
		shell: zmq4.NewDealer(ctx), control: zmq4.NewDealer(ctx), iopub: zmq4.NewSub(ctx)}
	require.NoError(t, c.shell.Dial(addr(info.ShellPort)))
	require.NoError(t, c.control.Dial(addr(info.ControlPort)))
	require.NoError(t, c.iopub.Dial(addr(info.IOPubPort)))
	require.NoError(t, c.iopub.SetOption(zmq4.OptionSubscribe, ""))
	t.Cleanup(func() { c.shell.Close(); c.control.Close(); c.iopub.Close() })
	c.in = map[zmq4.Socket]chan received{}
	for _, sk := range []zmq4.Socket{c.shell, c.control, c.iopub} {
		c.in[sk] = make(chan received, 64)
	}
	for _, sk := range []zmq4.Socket{c.shell, c.control, c.iopub} {
		go c.read(sk)
	}
	return c
}

func (c *client) send(t *testing.T, sk zmq4.Socket, msgType string, content any) *protocol.Message {
	t.Helper()
	m, err := protocol.NewMessage(nil, c.session, msgType, content)
	require.NoError(t, err)
	frames, err := protocol.Encode(m, c.signer)
	require.NoError(t, err)
	require.NoError(t, sk.Send(zmq4.NewMsgFrom(frames...)))
	return m
}

func (c *client) recv(t *testing.T, sk zmq4.Socket, within time.Duration) *protocol.Message {
	t.Helper()
	m, ok := c.tryRecv(t, sk, within)
	if !ok {
		t.Fatalf("nothing received within %s", within)
	}
	return m
}

// tryRecv is recv that reports a timeout instead of failing the test, for
// waits that are allowed to time out (iopub before its subscription holds).
func (c *client) tryRecv(t *testing.T, sk zmq4.Socket, within time.Duration) (*protocol.Message, bool) {
	t.Helper()
	select {
	case r := <-c.in[sk]:
		require.NoError(t, r.err)
		m, err := protocol.Decode(r.m.Frames, c.signer)
		require.NoError(t, err)
		return m, true
	case <-time.After(within):
		return nil, false
	}
}

// replyTo reads sk until the reply to req.
func (c *client) replyTo(t *testing.T, sk zmq4.Socket, req *protocol.Message) map[string]any {
	t.Helper()
	for {
		m := c.recv(t, sk, 60*time.Second)
		if m.ParentHeader.MsgID == req.Header.MsgID {
			var content map[string]any
			require.NoError(t, json.Unmarshal(m.Content, &content))
			return content
		}
	}
}

// iopubUntilIdle collects req's iopub messages up to its idle status,
// failing on a status that does not name req as its parent while req runs.
func (c *client) iopubUntilIdle(t *testing.T, req *protocol.Message) []*protocol.Message {
	t.Helper()
	var out []*protocol.Message
	for {
		m := c.recv(t, c.iopub, 60*time.Second)
		if m.ParentHeader.MsgID != req.Header.MsgID {
			continue
		}
		out = append(out, m)
		if m.Header.MsgType == "status" && strings.Contains(string(m.Content), `"idle"`) {
			return out
		}
	}
}

func commSend(t *testing.T, port int, req string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(req))
	return err
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// waitBusy reads iopub until req's busy status: the cell is running.
func (c *client) waitBusy(t *testing.T, req *protocol.Message) {
	t.Helper()
	for {
		m := c.recv(t, c.iopub, 60*time.Second)
		if m.ParentHeader.MsgID == req.Header.MsgID && m.Header.MsgType == "status" && strings.Contains(string(m.Content), `"busy"`) {
			return
		}
	}
}

// Promise: a kernel started through the launcher contract, with nothing
// but a response address, a public key and a port range, binds inside the
// range, reports a payload the gateway decrypts, runs cells, is
// interrupted both through the communication port and interrupt_request,
// answers liveness polls, and on shutdown exits with every child reaped
// and its communication port closed.
func TestLaunchPlaysTheGateway(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's sandbox needs Linux")
	}
	g := newGateway(t)
	lo := 20000 + int(time.Now().UnixNano()%30000)
	hi := lo + 999
	started := time.Now()
	k := g.launch(t, "5f0c1e4a-kernel", fmt.Sprintf("%d..%d", lo, hi))
	t.Logf("connection info after %s", time.Since(started).Round(time.Millisecond))

	info := k.info
	assert.Equal(t, "5f0c1e4a-kernel", info.KernelID)
	assert.Equal(t, k.cmd.Process.Pid, info.PID)
	assert.NotZero(t, info.PGID)
	assert.Equal(t, "tcp", info.Transport)
	assert.Equal(t, "hmac-sha256", info.SignatureScheme)
	assert.GreaterOrEqual(t, len(info.Key), 32, "the kernel makes its own signing key")
	for _, p := range []int{info.ShellPort, info.IOPubPort, info.StdinPort, info.ControlPort, info.HBPort, info.CommPort} {
		assert.True(t, p >= lo && p <= hi, "port %d outside %d..%d", p, lo, hi)
	}

	c := connect(t, info)
	// Subscriptions take effect asynchronously: send kernel_info until its
	// status arrives on iopub.
	for i := 0; ; i++ {
		req := c.send(t, c.shell, "kernel_info_request", map[string]any{})
		c.replyTo(t, c.shell, req)
		seen := false
		for deadline := time.Now().Add(2 * time.Second); !seen && time.Now().Before(deadline); {
			m, ok := c.tryRecv(t, c.iopub, time.Until(deadline))
			seen = ok && m.ParentHeader.MsgID == req.Header.MsgID
		}
		if seen {
			break
		}
		require.Less(t, i, 20, "iopub never delivered")
	}

	// A cell runs; every status names the request it belongs to.
	req := c.send(t, c.shell, "execute_request", map[string]any{"code": "6*7", "silent": false, "store_history": true})
	reply := c.replyTo(t, c.shell, req)
	assert.Equal(t, "ok", reply["status"])
	msgs := c.iopubUntilIdle(t, req)
	var result string
	statuses := 0
	for _, m := range msgs {
		if m.Header.MsgType == "status" {
			statuses++
		}
		if m.Header.MsgType == "execute_result" {
			var content struct {
				Data map[string]string `json:"data"`
			}
			require.NoError(t, json.Unmarshal(m.Content, &content))
			result = content.Data["text/plain"]
		}
	}
	assert.Equal(t, "42", result)
	assert.Equal(t, 2, statuses, "busy and idle, both with the request as parent")

	workers := children(k.cmd.Process.Pid)
	assert.NotEmpty(t, workers, "the interpreter worker is a child of the kernel")

	interrupted := func(how string, interrupt func()) {
		req := c.send(t, c.shell, "execute_request", map[string]any{"code": "while True:\n    pass", "silent": false})
		c.waitBusy(t, req)
		time.Sleep(300 * time.Millisecond) // into the loop
		t0 := time.Now()
		interrupt()
		reply := c.replyTo(t, c.shell, req)
		assert.Equal(t, "error", reply["status"], how)
		assert.Equal(t, "KeyboardInterrupt", reply["ename"], how)
		t.Logf("interrupt through %s: reply after %s", how, time.Since(t0).Round(time.Millisecond))
	}
	interrupted("the communication port", func() { require.NoError(t, commSend(t, info.CommPort, `{"signum": 2}`)) })
	interrupted("interrupt_request", func() {
		ir := c.send(t, c.control, "interrupt_request", map[string]any{})
		assert.Equal(t, "ok", c.replyTo(t, c.control, ir)["status"])
	})

	// Liveness polls are accepted and change nothing; garbage is ignored.
	for i := 0; i < 3; i++ {
		require.NoError(t, commSend(t, info.CommPort, `{"signum": 0}`))
	}
	require.NoError(t, commSend(t, info.CommPort, `{"signum": "x"`))
	req = c.send(t, c.shell, "execute_request", map[string]any{"code": "print('still here')", "silent": false})
	assert.Equal(t, "ok", c.replyTo(t, c.shell, req)["status"])

	// Shutdown as the gateway does it: shutdown_request, then the
	// listener's shutdown, then polls until refused.
	t0 := time.Now()
	sr := c.send(t, c.control, "shutdown_request", map[string]any{"restart": false})
	assert.Equal(t, "ok", c.replyTo(t, c.control, sr)["status"])
	_ = commSend(t, info.CommPort, `{"shutdown": 1}`)
	select {
	case err := <-k.exited:
		assert.NoError(t, err, "clean exit")
	case <-time.After(15 * time.Second):
		t.Fatal("the kernel did not exit within 15 s of shutdown_request")
	}
	t.Logf("exited %s after shutdown_request", time.Since(t0).Round(time.Millisecond))
	assert.Error(t, commSend(t, info.CommPort, `{"signum": 0}`), "the communication port refuses once the kernel is gone")
	for _, w := range workers {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(w)))
		assert.True(t, os.IsNotExist(err), "worker %d outlived the kernel", w)
	}
}

// Promise: the gateway's terminate (signal 15 on the communication port)
// and the listener's {"shutdown": 1} alone each end the kernel and its
// worker, with the any-port range 0..0.
func TestLaunchEndsFromTheCommunicationPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's sandbox needs Linux")
	}
	for _, req := range []string{`{"signum": 15}`, `{"shutdown": 1}`} {
		g := newGateway(t)
		k := g.launch(t, "k-"+strconv.Itoa(len(req)), "0..0")
		require.Eventually(t, func() bool { return len(children(k.cmd.Process.Pid)) > 0 }, 30*time.Second, 50*time.Millisecond)
		workers := children(k.cmd.Process.Pid)
		require.NoError(t, commSend(t, k.info.CommPort, req))
		select {
		case err := <-k.exited:
			assert.NoError(t, err, req)
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not end the kernel", req)
		}
		for _, w := range workers {
			_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(w)))
			assert.True(t, os.IsNotExist(err), "worker %d outlived the kernel", w)
		}
	}
}

// Promise: bad launcher arguments are refused before anything binds, with
// exit status 2 and a message naming the problem.
func TestLaunchRefusesBadArguments(t *testing.T) {
	var stderr bytes.Buffer
	code := runLaunch([]string{"--kernel-id", "k", "--response-address", "nowhere", "--public-key", "AAAA"}, func(string) string { return "" }, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "response address")
	assert.Contains(t, stderr.String(), "public key")
	stderr.Reset()
	g := newGateway(t)
	for _, cf := range [][]string{{"-f", "x.json"}, {"--connection-file=x.json"}, {"-connection-file", "x.json"}, {"--f=x.json"}} {
		stderr.Reset()
		code = runLaunch(append([]string{"--kernel-id", "k", "--response-address", "127.0.0.1:9", "--public-key", g.pub}, cf...), func(string) string { return "" }, &stderr)
		assert.Equal(t, 2, code, cf)
		assert.Contains(t, stderr.String(), "connection file", cf)
	}
}
