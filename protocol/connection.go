package protocol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// SchemeHMACSHA256 is the only signature scheme supported, and the one
// Jupyter clients use.
const SchemeHMACSHA256 = "hmac-sha256"

// ConnectionInfo is the content of a Jupyter connection file: where the
// five sockets listen and how messages are signed.
type ConnectionInfo struct {
	Transport       string `json:"transport"` // "tcp" or "ipc"
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"` // "hmac-sha256"; empty key => no signing (spec)
	KernelName      string `json:"kernel_name"`
}

// LoadConnectionFile reads and validates a connection file. A missing
// transport means "tcp" and a missing signature scheme means
// "hmac-sha256", as in jupyter_client. For tcp every port must be in
// 1..65535; for ipc the ports are the numeric suffixes of the socket
// paths ("<ip>-<port>") and must be positive. Ports must be distinct.
func LoadConnectionFile(path string) (*ConnectionInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("protocol: reading connection file: %w", err)
	}
	var info ConnectionInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("protocol: connection file %s: %w", path, err)
	}
	if err := info.normalize(false); err != nil {
		return nil, fmt.Errorf("protocol: connection file %s: %w", path, err)
	}
	return &info, nil
}

// Validate checks the transport, address, ports and signature scheme.
// Port 0 is accepted for tcp: the transport then binds a free port and
// reports it.
func (c *ConnectionInfo) Validate() error {
	cp := *c
	return cp.normalize(true)
}

// Normalize fills jupyter_client's defaults (transport "tcp", scheme
// "hmac-sha256") and validates as [ConnectionInfo.Validate] does: this is
// what the transport listens on.
func (c *ConnectionInfo) Normalize() error { return c.normalize(true) }

// normalize fills the defaults of jupyter_client and validates.
func (c *ConnectionInfo) normalize(allowZeroPorts bool) error {
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.SignatureScheme == "" {
		c.SignatureScheme = SchemeHMACSHA256
	}
	if _, err := NewSigner(c.SignatureScheme, c.Key); err != nil {
		return err
	}
	ports := []struct {
		name string
		port int
	}{
		{"shell_port", c.ShellPort},
		{"iopub_port", c.IOPubPort},
		{"stdin_port", c.StdinPort},
		{"control_port", c.ControlPort},
		{"hb_port", c.HBPort},
	}
	switch c.Transport {
	case "tcp":
		if c.IP == "" {
			return fmt.Errorf("missing ip for tcp transport")
		}
		if c.IP != "*" && !validIP(c.IP) && !validHostname(c.IP) {
			return fmt.Errorf("invalid ip %q", c.IP)
		}
		for _, p := range ports {
			if p.port < 0 || p.port > 65535 || (p.port == 0 && !allowZeroPorts) {
				return fmt.Errorf("%s %d out of range 1..65535", p.name, p.port)
			}
		}
	case "ipc":
		if c.IP == "" {
			return fmt.Errorf("missing ip (socket path prefix) for ipc transport")
		}
		for _, p := range ports {
			if p.port <= 0 {
				return fmt.Errorf("%s %d must be a positive ipc suffix", p.name, p.port)
			}
		}
	default:
		return fmt.Errorf("unsupported transport %q (want tcp or ipc)", c.Transport)
	}
	seen := make(map[int]string, len(ports))
	for _, p := range ports {
		if p.port == 0 {
			continue
		}
		if other, dup := seen[p.port]; dup {
			return fmt.Errorf("%s and %s are both %d", other, p.name, p.port)
		}
		seen[p.port] = p.name
	}
	return nil
}

// validIP accepts an IPv4 or IPv6 address without a zone, as net.ParseIP
// does; net/netip parses it so that the codec does not pull in package net
// (sockets, the resolver).
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// validHostname accepts names such as "localhost"; nothing is resolved.
func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Endpoint returns the ZeroMQ endpoint of one of the ports:
// "tcp://<ip>:<port>" (IPv6 addresses bracketed) or "ipc://<ip>-<port>".
func (c *ConnectionInfo) Endpoint(port int) string {
	if c.Transport == "ipc" {
		return "ipc://" + c.IP + "-" + strconv.Itoa(port)
	}
	ip := c.IP
	if strings.Contains(ip, ":") && !strings.HasPrefix(ip, "[") {
		ip = "[" + ip + "]"
	}
	return "tcp://" + ip + ":" + strconv.Itoa(port)
}
