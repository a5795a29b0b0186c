package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Default disk quota of one kernel session: what cell code may add beneath
// the notebook folder (SECURITY.md, "Disk").
const (
	defaultQuotaBytes = 2 << 30
	defaultQuotaFiles = 20000
)

// diskQuota is --disk-quota: "SIZE[,FILES]" ("2G,20000", "500M", "off").
type diskQuota struct {
	bytes, files int64
}

func (q *diskQuota) String() string {
	if q.bytes == 0 && q.files == 0 {
		return "off"
	}
	return fmt.Sprintf("%d,%d", q.bytes, q.files)
}

func (q *diskQuota) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		q.bytes, q.files = 0, 0
		return nil
	}
	size, files, hasFiles := strings.Cut(s, ",")
	b, err := parseSize(size)
	if err != nil {
		return err
	}
	q.bytes = b
	if hasFiles {
		n, err := strconv.ParseInt(strings.TrimSpace(files), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad file count %q", files)
		}
		q.files = n
	}
	return nil
}

// parseSize reads a byte count: a number with an optional K, M, G or T
// suffix (powers of 1024; "KB", "KiB" and a trailing "B" are accepted).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q (want e.g. 512M, 2G)", s)
	}
	return int64(v * float64(mult)), nil
}
