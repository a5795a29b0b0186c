package sandboxfs

import (
	"fmt"
	"os"
	"sync/atomic"
)

// Quota caps what one kernel session may add beneath its writable mount:
// bytes (the growth of file sizes, net of what it deletes or truncates) and
// entries (files, folders and links it creates, net of what it removes).
//
// The counters live in memory shared between the kernel process and each of
// its interpreter workers, so a cell cannot reset its quota by crashing the
// interpreter (the kernel starts a fresh worker with the same counters).
type Quota struct {
	MaxBytes int64 // 0: no cap on bytes
	MaxFiles int64 // 0: no cap on entries

	counters *[3]int64 // bytes, files, refusals; points into the shared page
	shared   *os.File  // backs counters; handed to workers
}

// Usage is a snapshot of a Quota.
type Usage struct {
	Bytes, Files       int64
	MaxBytes, MaxFiles int64
	Refusals           int64 // writes and creations the quota refused so far
}

// String is the format of UsageFS's file: "bytes max_bytes files max_files refusals".
func (u Usage) String() string {
	return fmt.Sprintf("%d %d %d %d %d\n", u.Bytes, u.MaxBytes, u.Files, u.MaxFiles, u.Refusals)
}

// NewQuota makes a quota with fresh counters, in the kernel process.
func NewQuota(maxBytes, maxFiles int64) (*Quota, error) {
	f, counters, err := newSharedCounters()
	if err != nil {
		return nil, fmt.Errorf("disk quota: %w", err)
	}
	return &Quota{MaxBytes: maxBytes, MaxFiles: maxFiles, counters: counters, shared: f}, nil
}

// OpenQuota attaches to the counters of a quota made by NewQuota in another
// process, given the file it handed over (File).
func OpenQuota(f *os.File, maxBytes, maxFiles int64) (*Quota, error) {
	counters, err := mapSharedCounters(f)
	if err != nil {
		return nil, fmt.Errorf("disk quota: %w", err)
	}
	return &Quota{MaxBytes: maxBytes, MaxFiles: maxFiles, counters: counters, shared: f}, nil
}

// File is the shared counters' file, to pass to a worker process.
func (q *Quota) File() *os.File { return q.shared }

// Usage reads the counters.
func (q *Quota) Usage() Usage {
	if q == nil {
		return Usage{}
	}
	return Usage{
		Bytes: atomic.LoadInt64(&q.counters[0]), Files: atomic.LoadInt64(&q.counters[1]),
		MaxBytes: q.MaxBytes, MaxFiles: q.MaxFiles, Refusals: atomic.LoadInt64(&q.counters[2]),
	}
}

// Charge counts bytes and files that the session caused to be written
// outside its mount (a snapshot of it), against the same quota; it
// reports whether they fit (if not, nothing is counted). A nil Quota has
// room for everything.
func (q *Quota) Charge(bytes, files int64) bool {
	if q == nil {
		return true
	}
	if !q.addBytes(bytes) {
		return false
	}
	if !q.addFiles(files) {
		q.addBytes(-bytes)
		return false
	}
	return true
}

// reserve adds n (which may be negative) to counter i unless that would
// pass max; it reports whether it did. Negative amounts always succeed.
func (q *Quota) reserve(i int, n, max int64) bool {
	if q == nil || n == 0 {
		return true
	}
	c := &q.counters[i]
	for {
		old := atomic.LoadInt64(c)
		if n > 0 && max > 0 && old+n > max {
			atomic.AddInt64(&q.counters[2], 1)
			return false
		}
		if atomic.CompareAndSwapInt64(c, old, old+n) {
			return true
		}
	}
}

func (q *Quota) addBytes(n int64) bool { return q.reserve(0, n, q.maxBytes()) }
func (q *Quota) addFiles(n int64) bool { return q.reserve(1, n, q.maxFiles()) }

func (q *Quota) maxBytes() int64 {
	if q == nil {
		return 0
	}
	return q.MaxBytes
}

func (q *Quota) maxFiles() int64 {
	if q == nil {
		return 0
	}
	return q.MaxFiles
}

// tempFile is an anonymous file where memfd_create is missing: created in
// the host's temp folder and unlinked at once.
func tempFile() (*os.File, error) {
	f, err := os.CreateTemp("", "wasipy-quota-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
