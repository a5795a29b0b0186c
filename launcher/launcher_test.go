package launcher

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	return priv, base64.StdEncoding.EncodeToString(der)
}

func TestParseGatewayProvisionersArgs(t *testing.T) {
	_, pub := testKey(t)
	cfg, rest, err := Parse([]string{
		"--kernel-id", "1f0e-aa", "--port-range", "9000..9100", "--response-address", "10.0.0.1:8877",
		"--public-key", pub, "--spark-context-initialization-mode", "none", "--kernel-class-name=x.Y",
		"--cluster-type", "none", "--memory-limit", "1G", "-f",
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, "1f0e-aa", cfg.KernelID)
	assert.Equal(t, "10.0.0.1:8877", cfg.ResponseAddr)
	assert.Equal(t, 9000, cfg.PortLow)
	assert.Equal(t, 9100, cfg.PortHigh)
	assert.Equal(t, "0.0.0.0", cfg.IP)
	assert.NotNil(t, cfg.PublicKey)
	assert.Equal(t, []string{"--memory-limit", "1G", "-f"}, rest, "the kernel's own flags pass through in order")
}

func TestParseEnterpriseGatewayStyleAndEnv(t *testing.T) {
	_, pub := testKey(t)
	env := map[string]string{"EG_RESPONSE_ADDRESS": "gw:1234", "PUBLIC_KEY": pub, "PORT_RANGE": "0..0", "RESPONSE_ADDRESS": ""}
	cfg, rest, err := Parse([]string{"--RemoteProcessProxy.kernel-id", "k1", "--RemoteProcessProxy.spark-context-initialization-mode", "none"},
		func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "k1", cfg.KernelID)
	assert.Equal(t, "gw:1234", cfg.ResponseAddr, "EG_ prefix is read when the plain name is empty")
	assert.Empty(t, rest)

	// A flag wins over the environment.
	env["KERNEL_ID"] = "from-env"
	cfg, _, err = Parse([]string{"--kernel_id=flag"}, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "flag", cfg.KernelID)
	cfg, _, err = Parse(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "from-env", cfg.KernelID)
}

func TestParseRejects(t *testing.T) {
	_, pub := testKey(t)
	good := map[string]string{"--kernel-id": "k", "--response-address": "127.0.0.1:9", "--public-key": pub}
	args := func(over map[string]string) []string {
		var out []string
		for k, v := range good {
			if o, ok := over[k]; ok {
				v = o
			}
			if v != "\x00drop" {
				out = append(out, k, v)
			}
		}
		for k, v := range over {
			if _, ok := good[k]; !ok {
				out = append(out, k, v)
			}
		}
		return out
	}
	_, _, err := Parse(args(nil), nil)
	require.NoError(t, err)
	for name, over := range map[string]map[string]string{
		"no kernel id":        {"--kernel-id": "\x00drop"},
		"kernel id with \\n":  {"--kernel-id": "a\nlevel=ERROR"},
		"long kernel id":      {"--kernel-id": strings.Repeat("a", 300)},
		"no response address": {"--response-address": "\x00drop"},
		"address no port":     {"--response-address": "127.0.0.1"},
		"address port 0":      {"--response-address": "127.0.0.1:0"},
		"address port big":    {"--response-address": "h:70000"},
		"no key":              {"--public-key": "\x00drop"},
		"key not base64":      {"--public-key": "%%%"},
		"key not a key":       {"--public-key": base64.StdEncoding.EncodeToString([]byte("hello"))},
		"bad range":           {"--port-range": "9000-9100"},
		"tiny range":          {"--port-range": "9000..9003"},
		"reversed range":      {"--port-range": "9100..9000"},
		"range past 65535":    {"--port-range": "65530..65600"},
		"bad ip":              {"--ip": "localhost"},
	} {
		_, _, err := Parse(args(over), nil)
		assert.Error(t, err, name)
	}
	_, _, err = Parse([]string{"--kernel-id"}, nil)
	assert.ErrorContains(t, err, "needs a value")
}

func TestParsePublicKeyForms(t *testing.T) {
	priv, spki := testKey(t)
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	der, _ := base64.StdEncoding.DecodeString(spki)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for name, s := range map[string]string{"spki": spki, "pkcs1": pkcs1, "pem": pemText, "wrapped base64": spki[:40] + "\n" + spki[40:]} {
		k, err := ParsePublicKey(s)
		require.NoError(t, err, name)
		assert.True(t, k.Equal(&priv.PublicKey), name)
	}
	small, err := rsa.GenerateKey(rand.Reader, 256)
	if err == nil { // newer Go refuses to make keys this small; nothing to check then
		_, err = ParsePublicKey(base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&small.PublicKey)))
		assert.Error(t, err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	priv, pub := testKey(t)
	pk, err := ParsePublicKey(pub)
	require.NoError(t, err)
	in := ConnectionInfo{ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 5, IP: "0.0.0.0",
		Key: "k", Transport: "tcp", SignatureScheme: "hmac-sha256", PID: 7, PGID: 7, CommPort: 6, KernelID: "kid"}
	payload, err := Seal(in, pk)
	require.NoError(t, err)
	out, err := Open(payload, priv)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	// The envelope is what the gateways read: version 1, key, conn_info.
	raw, err := base64.StdEncoding.DecodeString(string(payload))
	require.NoError(t, err)
	var env map[string]any
	require.NoError(t, json.Unmarshal(raw, &env))
	assert.EqualValues(t, 1, env["version"])
	assert.NotEmpty(t, env["key"])
	assert.NotEmpty(t, env["conn_info"])
	assert.NotContains(t, string(raw), `"kid"`, "the connection info is not in clear")

	// Two payloads of the same info differ: a fresh AES key each time.
	again, err := Seal(in, pk)
	require.NoError(t, err)
	assert.NotEqual(t, payload, again)

	other, _ := testKey(t)
	_, err = Open(payload, other)
	assert.Error(t, err, "another private key cannot open it")
}

func TestOpenRejectsGarbage(t *testing.T) {
	priv, pub := testKey(t)
	pk, _ := ParsePublicKey(pub)
	good, err := Seal(ConnectionInfo{KernelID: "k"}, pk)
	require.NoError(t, err)
	raw, _ := base64.StdEncoding.DecodeString(string(good))
	var env map[string]any
	require.NoError(t, json.Unmarshal(raw, &env))
	mutate := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range env {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return []byte(base64.StdEncoding.EncodeToString(b))
	}
	ct, _ := base64.StdEncoding.DecodeString(env["conn_info"].(string))
	for name, p := range map[string][]byte{
		"empty":          nil,
		"not base64":     []byte("!!"),
		"not json":       []byte(base64.StdEncoding.EncodeToString([]byte("{"))),
		"version 2":      mutate("version", 2),
		"bad key":        mutate("key", "AAAA"),
		"partial block":  mutate("conn_info", base64.StdEncoding.EncodeToString(ct[:len(ct)-1])),
		"no ciphertext":  mutate("conn_info", ""),
		"huge":           make([]byte, maxPayload+1),
		"truncated tail": mutate("conn_info", base64.StdEncoding.EncodeToString(ct[:len(ct)-16])),
	} {
		_, err := Open(p, priv)
		assert.Error(t, err, name)
	}
}

func TestBindInRangeRetriesTakenPorts(t *testing.T) {
	// Take half of a small range, then bind six ports in it. The range
	// lies below the system's ephemeral ports, which the busy machine's
	// own connections would otherwise hold at random.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	lo := 10000 + mrand.IntN(15000)
	hi := lo + 31
	for p := lo; p <= hi; p += 2 { // every other port taken
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			held = append(held, l)
		}
	}
	calls := 0
	var got []net.Listener
	err := BindInRange("127.0.0.1", nil, lo, hi, 6, func(ports []int) error {
		calls++
		var ls []net.Listener
		for _, p := range ports {
			require.True(t, p >= lo && p <= hi)
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				for _, l := range ls {
					l.Close()
				}
				return fmt.Errorf("binding %d: %w", p, err)
			}
			ls = append(ls, l)
		}
		got = ls
		return nil
	})
	require.NoError(t, err)
	defer func() {
		for _, l := range got {
			l.Close()
		}
	}()
	assert.Len(t, got, 6)
	t.Logf("bound six ports in a half-taken range of 32 in %d draws", calls)

	// Another error is not retried.
	calls = 0
	err = BindInRange("127.0.0.1", nil, lo, hi, 6, func([]int) error { calls++; return errors.New("boom") })
	assert.ErrorContains(t, err, "boom")
	assert.Equal(t, 1, calls)
	// A range always in use gives up.
	calls = 0
	err = BindInRange("127.0.0.1", nil, lo, hi, 6, func([]int) error { calls++; return syscall.EADDRINUSE })
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Equal(t, bindTries, calls)
	// A range with fewer free ports than needed fails without calling bind.
	calls = 0
	err = BindInRange("127.0.0.1", nil, lo, lo+15, 12, func([]int) error { calls++; return nil })
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Equal(t, 0, calls)
	// 0..0 asks the system.
	err = BindInRange("127.0.0.1", nil, 0, 0, 6, func(p []int) error { assert.Equal(t, []int{0, 0, 0, 0, 0, 0}, p); return nil })
	assert.NoError(t, err)
}

type recorder struct {
	mu       sync.Mutex
	signals  []int
	shutdown int
	got      chan struct{}
}

func (r *recorder) Signal(n int) {
	r.mu.Lock()
	r.signals = append(r.signals, n)
	r.mu.Unlock()
	r.got <- struct{}{}
}
func (r *recorder) Shutdown() {
	r.mu.Lock()
	r.shutdown++
	r.mu.Unlock()
	r.got <- struct{}{}
}

func TestCommListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &recorder{got: make(chan struct{}, 16)}
	c := NewCommListener(ln, rec, nil)
	addr := ln.Addr().String()
	send := func(s string, closeWrite bool) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, _ = conn.Write([]byte(s))
		if closeWrite {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}
	wait := func() {
		select {
		case <-rec.got:
		case <-time.After(3 * time.Second):
			t.Fatal("request not delivered")
		}
	}
	// The gateway keeps the connection open after a signal: the request
	// must be served without waiting for the end of stream.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = conn.Write([]byte(`{"signum": 2}`))
	wait()
	conn.Close()
	send(`{"signum": 0}`, false)
	wait()
	for _, bad := range []string{`{"signum": -1}`, `{"signum": 99}`, `nonsense`, `{"other": 1}`, `{"shutdown": 0}`, `{"signum": "2"}`, strings.Repeat(" ", commMaxRequest+10) + `{"signum": 2}`} {
		send(bad, true)
	}
	send(`{"shutdown": 1}`, true)
	wait()
	require.NoError(t, c.Close())
	rec.mu.Lock()
	assert.Equal(t, []int{2, 0}, rec.signals, "bad requests deliver nothing")
	assert.Equal(t, 1, rec.shutdown)
	rec.mu.Unlock()
	_, err = net.Dial("tcp", addr)
	assert.Error(t, err, "after Close the port refuses connections: that is how the gateway learns the kernel is gone")
}

func TestCommListenerBoundsIdlePeers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &recorder{got: make(chan struct{}, 4)}
	c := NewCommListener(ln, rec, nil)
	defer c.Close()
	// Peers that connect and say nothing hold at most commMaxConns slots;
	// a gateway's request still gets through once they time out, and
	// the idle ones are dropped meanwhile rather than piling up.
	var idle []net.Conn
	for i := 0; i < commMaxConns*3; i++ {
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		idle = append(idle, conn)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	start := time.Now()
	deadline := time.Now().Add(commDeadline + 5*time.Second)
	for {
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		_, _ = conn.Write([]byte(`{"signum": 0}`))
		select {
		case <-rec.got:
			conn.Close()
			t.Logf("served after %s with %d idle peers", time.Since(start).Round(time.Millisecond), len(idle))
			return
		case <-time.After(500 * time.Millisecond):
			conn.Close()
		}
		require.True(t, time.Now().Before(deadline), "the port stayed blocked by idle peers")
	}
}

func TestBindInRangeTriesPreferredPortsFirst(t *testing.T) {
	var calls [][]int
	bind := func(ports []int) error {
		calls = append(calls, append([]int(nil), ports...))
		return nil
	}
	require.NoError(t, BindInRange("127.0.0.1", []int{7001, 7002, 7003, 7004, 7005}, 0, 0, 6, bind))
	assert.Equal(t, [][]int{{7001, 7002, 7003, 7004, 7005, 0}}, calls)

	// A preferred port in use: the next call draws from the range.
	calls = nil
	taken := func(ports []int) error {
		calls = append(calls, append([]int(nil), ports...))
		if ports[0] == 7001 {
			return syscall.EADDRINUSE
		}
		return nil
	}
	require.NoError(t, BindInRange("127.0.0.1", []int{7001, 7002, 7003, 7004, 7005}, 0, 0, 6, taken))
	assert.Equal(t, [][]int{{7001, 7002, 7003, 7004, 7005, 0}, {0, 0, 0, 0, 0, 0}}, calls)
}

func TestParsePreferredPortsAndKey(t *testing.T) {
	_, pub := testKey(t)
	env := map[string]string{"KERNEL_ID": "k", "RESPONSE_ADDRESS": "127.0.0.1:9", "PUBLIC_KEY": pub,
		"WASIPY_LAUNCH_PORTS": "7001,7002,7003,7004,7005", "WASIPY_LAUNCH_KEY": "abc-123"}
	cfg, _, err := Parse(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, []int{7001, 7002, 7003, 7004, 7005}, cfg.Ports)
	assert.Equal(t, "abc-123", cfg.Key)
	for _, bad := range []string{"1,2,3,4", "1,2,3,4,4", "1,2,3,4,70000", "a,b,c,d,e"} {
		env["WASIPY_LAUNCH_PORTS"] = bad
		_, _, err := Parse(nil, func(k string) string { return env[k] })
		assert.Error(t, err, bad)
	}
	env["WASIPY_LAUNCH_PORTS"] = ""
	env["WASIPY_LAUNCH_KEY"] = "has space"
	_, _, err = Parse(nil, func(k string) string { return env[k] })
	assert.Error(t, err)
}
