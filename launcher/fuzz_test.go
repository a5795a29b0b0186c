package launcher

import (
	"crypto/rand"
	"crypto/rsa"
	"net"
	"sync"
	"testing"
	"time"
)

// FuzzOpen: whatever arrives at a Go gateway's response address, Open
// returns an error or a payload, never panics.
func FuzzOpen(f *testing.F) {
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	good, err := Seal(ConnectionInfo{KernelID: "k", ShellPort: 1}, &priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("eyJ2ZXJzaW9uIjoxfQ=="))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Open(b, priv)
	})
}

// FuzzParse: any argv and environment give a Config or an error, and an
// accepted Config is one the kernel can use.
func FuzzParse(f *testing.F) {
	f.Add("--kernel-id", "k", "--port-range", "1000..2000", "127.0.0.1:9")
	f.Add("--RemoteProcessProxy.port-range", "0..0", "--ip", "::1", "h:1")
	f.Fuzz(func(t *testing.T, a1, a2, a3, a4, addr string) {
		cfg, _, err := Parse([]string{a1, a2, a3, a4}, func(k string) string {
			if k == "RESPONSE_ADDRESS" {
				return addr
			}
			return ""
		})
		if err != nil {
			return
		}
		if cfg.PublicKey == nil || cfg.KernelID == "" || net.ParseIP(cfg.IP) == nil {
			t.Fatalf("accepted an unusable config %+v", cfg)
		}
		if !(cfg.PortLow == 0 && cfg.PortHigh == 0) && (cfg.PortLow < 1 || cfg.PortHigh > 65535 || cfg.PortHigh-cfg.PortLow+1 < minRangeSize) {
			t.Fatalf("accepted port range %d..%d", cfg.PortLow, cfg.PortHigh)
		}
	})
}

// pipeListener is a net.Listener over net.Pipe: the fuzzer runs thousands
// of inputs a second, and a TCP connection each would leave as many ports
// in TIME_WAIT and starve every other program on the machine of ports.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects to the listener; false once it is closed.
func (l *pipeListener) dial() (net.Conn, bool) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, true
	case <-l.done:
		return nil, false
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// FuzzCommRequest: any bytes on the communication port deliver at most one
// valid command.
func FuzzCommRequest(f *testing.F) {
	f.Add([]byte(`{"signum": 2}`))
	f.Add([]byte(`{"shutdown": true}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ln := newPipeListener()
		rec := &recorder{got: make(chan struct{}, 4)}
		c := NewCommListener(ln, rec, nil)
		if conn, ok := ln.dial(); ok {
			// A pipe's write returns once read: the listener stops reading
			// where the JSON value ends (or at its size cap) and closes,
			// which ends the write early.
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = conn.Write(b)
			conn.Close()
		}
		c.Close()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.signals)+rec.shutdown > 1 {
			t.Fatalf("one request delivered %v and %d shutdowns", rec.signals, rec.shutdown)
		}
		for _, s := range rec.signals {
			if s < 0 || s > 64 {
				t.Fatalf("delivered signal %d", s)
			}
		}
	})
}
