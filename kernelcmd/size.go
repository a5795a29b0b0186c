package kernelcmd

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize reads a byte count as people write it: "512M", "2G", "1.5GiB",
// "100MB", "65536". K, M, G and T are powers of 1024 with or without "i" and
// "B" (as `ulimit`, Docker and Kubernetes' Mi read them; nobody means 10^9
// bytes when capping memory). A bare number is bytes. Case is ignored.
func parseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "B")
	binary := strings.HasSuffix(u, "I")
	u = strings.TrimSuffix(u, "I")
	shift := 0
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift != 0 {
			u = u[:n-1]
		}
	}
	if binary && shift == 0 { // "5i", "5iB"
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix", s)
	}
	u = strings.TrimSpace(u)
	if u == "" || strings.ContainsAny(u, "+-eEpPxX_") || strings.EqualFold(u, "inf") || strings.EqualFold(u, "nan") {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix", s)
	}
	if n, err := strconv.ParseUint(u, 10, 64); err == nil {
		if shift > 0 && n > math.MaxUint64>>shift {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n << shift, nil
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix", s)
	}
	v := f * float64(uint64(1)<<shift)
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(v), nil
}

// formatSize writes n the way parseSize reads it back, exactly when n is a
// whole number of the unit (for kernel.json argv and messages).
func formatSize(n uint64) string {
	for _, u := range []struct {
		shift  uint
		suffix string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// sizeFlag is a flag.Value holding a byte count parsed by parseSize,
// checked against [min, max] when set.
type sizeFlag struct {
	n        uint64
	min, max uint64
	set      bool
}

func (f *sizeFlag) String() string {
	if f == nil {
		return ""
	}
	return formatSize(f.n)
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n < f.min {
		return fmt.Errorf("%s is below the minimum of %s", s, formatSize(f.min))
	}
	if f.max > 0 && n > f.max {
		return fmt.Errorf("%s is above the maximum of %s", s, formatSize(f.max))
	}
	f.n, f.set = n, true
	return nil
}
