package kernelcmd

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
	return fmt.Sprintf("%s,%d", formatSize(uint64(q.bytes)), q.files)
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
	if b > 1<<62 {
		return fmt.Errorf("size %q is too large", size)
	}
	q.bytes = int64(b)
	if hasFiles {
		n, err := strconv.ParseInt(strings.TrimSpace(files), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad file count %q", files)
		}
		q.files = n
	}
	return nil
}
