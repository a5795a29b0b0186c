// Package launcher implements the "kernel launcher" contract of Jupyter
// Enterprise Gateway and gateway_provisioners, so that a remote host (a
// Kubernetes pod, a Docker container, an ssh host) can start the kernel
// without a connection file: the kernel binds its own sockets inside a
// port range, makes its own signing key, and sends its connection info,
// encrypted, to the gateway's response address; a small TCP listener (the
// communication port) then takes signals and shutdown from the gateway.
//
// The package knows the contract's bytes only: arguments and environment
// (this file), the encrypted payload (payload.go), ports in a range
// (ports.go), the report (report.go) and the communication port (comm.go).
// It never starts a kernel; cmd/kernel's launch mode wires it in.
package launcher

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Config is what a gateway tells the kernel it launches.
type Config struct {
	KernelID string // the gateway's id for this kernel, echoed in the payload
	// ResponseAddr is where the connection info goes ("HOST:PORT").
	ResponseAddr string
	// PublicKey encrypts the payload's AES key.
	PublicKey *rsa.PublicKey
	// PortLow and PortHigh bound every port the kernel binds (the five
	// sockets and the communication port); 0 and 0 mean any free port.
	PortLow, PortHigh int
	// IP is the address the sockets bind to: 0.0.0.0 unless told (the
	// gateway replaces the ip in the payload with the host it launched on).
	IP string
	// Ports (shell, iopub, stdin, control, hb) and Key are those of the
	// kernel this one replaces, from WASIPY_LAUNCH_PORTS and
	// WASIPY_LAUNCH_KEY (wasipy's provisioner sets them on a restart):
	// tried first, so that clients connected before the restart keep
	// working, as with jupyter_client's own restarts. Taken ports are
	// given up for others, reported as always. Not part of the gateways'
	// contract, and never flags: a key on a command line is visible to
	// every user of the host.
	Ports []int
	Key   string
}

// maxKernelID bounds the kernel id: it comes from the command line or the
// environment and is echoed to the gateway and written to logs.
const maxKernelID = 256

// flagNames maps every spelling a launcher is given to one name: the
// gateway_provisioners form (--kernel-id), Enterprise Gateway's older
// --RemoteProcessProxy.kernel-id, with dashes or underscores.
var flagNames = map[string]string{
	"kernel-id":        "kernel-id",
	"response-address": "response-address",
	"public-key":       "public-key",
	"port-range":       "port-range",
	"ip":               "ip",
	// Values other launchers need and a Python kernel ignores (there is no
	// Spark context, and the kernel's class is fixed). Taken so that a
	// kernel.json written for launch_ipykernel.py works unchanged.
	"spark-context-initialization-mode": "ignored",
	"cluster-type":                      "ignored",
	"kernel-class-name":                 "ignored",
}

// envNames are the environment variables a pod receives (bootstrap-kernel.sh
// reads the same, each also with an EG_ prefix).
var envNames = map[string]string{
	"kernel-id":        "KERNEL_ID",
	"response-address": "RESPONSE_ADDRESS",
	"public-key":       "PUBLIC_KEY",
	"port-range":       "PORT_RANGE",
	"ip":               "KERNEL_IP",
}

// Parse takes the launcher's arguments out of args and returns them with
// the arguments it does not know (the kernel's own flags), in order.
// Values missing from args are read with getenv (NAME, then EG_NAME);
// getenv may be nil. Flags take "--name value" or "--name=value".
func Parse(args []string, getenv func(string) string) (Config, []string, error) {
	vals := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		canon, known := canonical(name)
		if !strings.HasPrefix(a, "--") || !known {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return Config{}, nil, fmt.Errorf("launcher: %s needs a value", a)
			}
			i++
			value = args[i]
		}
		if canon != "ignored" {
			vals[canon] = value
		}
	}
	if getenv != nil {
		for name, env := range envNames {
			if _, ok := vals[name]; ok {
				continue
			}
			if v := getenv(env); v != "" {
				vals[name] = v
			} else if v := getenv("EG_" + env); v != "" {
				vals[name] = v
			}
		}
	}
	if getenv != nil {
		vals["prefer-ports"] = getenv("WASIPY_LAUNCH_PORTS")
		vals["prefer-key"] = getenv("WASIPY_LAUNCH_KEY")
	}
	cfg, err := build(vals)
	return cfg, rest, err
}

// canonical maps a flag name (without its dashes) to its canonical name.
func canonical(name string) (string, bool) {
	name = strings.TrimPrefix(name, "RemoteProcessProxy.")
	name = strings.ReplaceAll(name, "_", "-")
	c, ok := flagNames[name]
	return c, ok
}

func build(vals map[string]string) (Config, error) {
	var cfg Config
	var errs []error
	cfg.KernelID = vals["kernel-id"]
	if err := checkKernelID(cfg.KernelID); err != nil {
		errs = append(errs, err)
	}
	cfg.ResponseAddr = vals["response-address"]
	if err := checkAddr(cfg.ResponseAddr); err != nil {
		errs = append(errs, fmt.Errorf("response address: %w", err))
	}
	if k, ok := vals["public-key"]; !ok || k == "" {
		errs = append(errs, errors.New("a public key is required (--public-key or PUBLIC_KEY)"))
	} else if pk, err := ParsePublicKey(k); err != nil {
		errs = append(errs, err)
	} else {
		cfg.PublicKey = pk
	}
	var err error
	if cfg.PortLow, cfg.PortHigh, err = ParsePortRange(vals["port-range"]); err != nil {
		errs = append(errs, err)
	}
	cfg.IP = vals["ip"]
	if cfg.IP == "" {
		cfg.IP = "0.0.0.0"
	} else if net.ParseIP(cfg.IP) == nil {
		errs = append(errs, fmt.Errorf("ip %q is not an IP address", cfg.IP))
	}
	if cfg.Ports, err = parsePorts(vals["prefer-ports"]); err != nil {
		errs = append(errs, err)
	}
	cfg.Key = vals["prefer-key"]
	if len(cfg.Key) > 256 || strings.ContainsFunc(cfg.Key, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, errors.New("WASIPY_LAUNCH_KEY: at most 256 printable ASCII characters"))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("launcher: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// checkKernelID accepts what gateways make (UUIDs) and any other id of
// printable ASCII without spaces, so that it cannot forge log lines.
func checkKernelID(id string) error {
	if id == "" {
		return errors.New("a kernel id is required (--kernel-id or KERNEL_ID)")
	}
	if len(id) > maxKernelID {
		return fmt.Errorf("kernel id longer than %d bytes", maxKernelID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("kernel id %q: only printable ASCII without spaces", id)
		}
	}
	return nil
}

// checkAddr wants HOST:PORT with a port in 1..65535; the host is resolved
// only when the report is sent.
func checkAddr(addr string) error {
	if addr == "" {
		return errors.New("required (--response-address or RESPONSE_ADDRESS)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port out of range 1..65535", addr)
	}
	return nil
}

// ParsePortRange reads "L..U" (both 0, or 1 <= L < U <= 65535). An empty
// string is "0..0": any port.
func ParsePortRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	l, u, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want LOWER..UPPER", s)
	}
	if lo, err = strconv.Atoi(l); err == nil {
		hi, err = strconv.Atoi(u)
	}
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("port range %q: want LOWER..UPPER", s)
	case lo == 0 && hi == 0:
		return 0, 0, nil
	case lo < 1 || hi > 65535 || hi-lo < minRangeSize-1:
		// Six ports must fit, with room to retry when some are taken.
		return 0, 0, fmt.Errorf("port range %q: want 0..0, or 1 <= LOWER and UPPER <= 65535 with at least %d ports", s, minRangeSize)
	}
	return lo, hi, nil
}

// parsePorts reads WASIPY_LAUNCH_PORTS: five distinct ports, comma-separated.
func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 5 {
		return nil, fmt.Errorf("WASIPY_LAUNCH_PORTS %q: want five ports (shell,iopub,stdin,control,hb)", s)
	}
	seen := map[int]bool{}
	out := make([]int, 0, 5)
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 65535 || seen[n] {
			return nil, fmt.Errorf("WASIPY_LAUNCH_PORTS %q: want five distinct ports in 1..65535", s)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}
