package launcher

import (
	"crypto/rand"
	"crypto/rsa"
	"net"
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

// FuzzCommRequest: any bytes on the communication port deliver at most one
// valid command.
func FuzzCommRequest(f *testing.F) {
	f.Add([]byte(`{"signum": 2}`))
	f.Add([]byte(`{"shutdown": true}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skip(err)
		}
		rec := &recorder{got: make(chan struct{}, 4)}
		c := NewCommListener(ln, rec, nil)
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_, _ = conn.Write(b)
			conn.(*net.TCPConn).CloseWrite()
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = conn.Read(make([]byte, 1)) // the listener closes it when done
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
