package launcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"syscall"
)

// minRangeSize is the smallest port range accepted: six ports must fit,
// with room to draw others when some are taken.
const minRangeSize = 16

// bindTries is how many draws BindInRange makes before giving up. A
// draw only fails when another process takes a port between the probe
// and the bind, so a few are plenty.
const bindTries = 20

// BindInRange calls bind with n distinct ports from lo..hi, on ip, until
// it binds them. When prefer is given (its first ports, at most n), the
// first call uses them, with drawn ports after them; prefer need not lie in
// the range, since it names ports the gateway's side was already told. With the range 0..0 every port is 0 (the system picks free ones)
// and bind is called once. bind must bind all its ports or none; a draw
// is retried when bind's error says a port was taken (EADDRINUSE) or
// refused (EACCES: a low port without privilege), and any other error is
// returned at once. Each drawn port is probed first (bound and closed), so
// that a crowded range costs probes rather than whole draws. Because the kernel binds and only then reports the
// ports, no other process can take them in between: there is no race.
func BindInRange(ip string, prefer []int, lo, hi, n int, bind func(ports []int) error) error {
	if len(prefer) > n {
		prefer = prefer[:n]
	}
	if len(prefer) > 0 {
		ports := append([]int(nil), prefer...)
		if rest := n - len(prefer); rest > 0 {
			if lo == 0 && hi == 0 {
				ports = append(ports, make([]int, rest)...)
			} else {
				more, err := drawPorts(ip, lo, hi, rest+len(prefer))
				if err != nil {
					return err
				}
				for _, p := range more {
					if len(ports) < n && !slices.Contains(ports, p) {
						ports = append(ports, p)
					}
				}
			}
		}
		err := bind(ports)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return err
		}
	}
	if lo == 0 && hi == 0 {
		return bind(make([]int, n))
	}
	if hi-lo+1 < n {
		return fmt.Errorf("launcher: port range %d..%d holds fewer than %d ports", lo, hi, n)
	}
	var last error
	for try := 0; try < bindTries; try++ {
		ports, err := drawPorts(ip, lo, hi, n)
		if err != nil {
			return err
		}
		err = bind(ports)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return err
		}
		last = err
	}
	return fmt.Errorf("launcher: no free ports in %d..%d after %d tries: %w", lo, hi, bindTries, last)
}

// drawPorts picks n distinct ports from lo..hi at random (so that kernels
// started together in one range rarely draw the same ones) among those
// that can be bound on ip now.
func drawPorts(ip string, lo, hi, n int) ([]int, error) {
	size := hi - lo + 1
	// Walk the range from a random start with a random stride coprime to
	// its size: every port is visited once, in an order that differs
	// between kernels.
	start, stride := rand.IntN(size), 1+rand.IntN(size)
	for gcd(stride, size) != 1 {
		stride = 1 + rand.IntN(size)
	}
	out := make([]int, 0, n)
	for i := 0; i < size && len(out) < n; i++ {
		p := lo + (start+i*stride)%size
		if canBind(ip, p) {
			out = append(out, p)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("launcher: fewer than %d free ports in %d..%d: %w", n, lo, hi, syscall.EADDRINUSE)
	}
	return out, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// canBind reports whether a TCP port is free on ip now.
func canBind(ip string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
