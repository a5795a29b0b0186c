package pip

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasipy/wasipy/interp"
)

// Downloads run in the background so that the guest can show their
// progress while they run (pip's progress bar) and, from
// `await wasipy.pip.install(...)`, keep its event loop turning: the guest
// starts a transfer, then waits on it a fraction of a second at a time
// (Wait, blocking or awaitable), drawing the progress between waits.

// MaxTransfers caps the downloads one kernel runs at once. The guest's
// installer runs one at a time (and cancels it when interrupted); the cap
// stops cell code that calls the module itself from holding many wheels
// of up to MaxWheelSize in the kernel's memory at once.
const MaxTransfers = 2

// abandonAfter is how long a transfer nobody waits on lives: a guest
// interrupted between two waits never comes back for it.
const abandonAfter = time.Minute

// progress counts a download's bytes; total is -1 when the server did
// not say.
type progress struct {
	done, total atomic.Int64
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type transfer struct {
	prog     progress
	finished chan struct{}
	result   *Fetched
	err      error
	cancel   context.CancelFunc
	waited   atomic.Int64 // unix nanoseconds of the last Wait
}

type transfers struct {
	mu   sync.Mutex
	byID map[int64]*transfer
	next int64
}

// Transfer is what Wait reports: bytes so far, the size when known (-1
// when not), and, once Finished, the checked wheel.
type Transfer struct {
	Done, Total int64
	Finished    bool
	Fetched     *Fetched
}

// StartDownload starts Download in the background and returns its id for
// Wait. It fails at once only when too many transfers are running.
func (in *Installer) StartDownload(raw, filename, want string) (int64, error) {
	ts := &in.transfers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := time.Now().UnixNano()
	for id, t := range ts.byID {
		if now-t.waited.Load() > int64(abandonAfter) {
			t.cancel()
			delete(ts.byID, id)
		}
	}
	if len(ts.byID) >= MaxTransfers {
		return 0, &interp.GuestError{Type: "RuntimeError", Message: fmt.Sprintf("%d downloads are running already", MaxTransfers)}
	}
	if ts.byID == nil {
		ts.byID = map[int64]*transfer{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &transfer{finished: make(chan struct{}), cancel: cancel}
	t.prog.total.Store(-1)
	t.waited.Store(now)
	ts.next++
	id := ts.next
	ts.byID[id] = t
	go func() {
		defer cancel()
		t.result, t.err = in.download(ctx, raw, filename, want, &t.prog)
		close(t.finished)
	}()
	return id, nil
}

// Wait waits up to timeout (at most 5 s) for a transfer and reports it.
// A finished transfer is forgotten once reported: its error is returned,
// or its result.
func (in *Installer) Wait(ctx context.Context, id int64, timeout time.Duration) (Transfer, error) {
	ts := &in.transfers
	ts.mu.Lock()
	t := ts.byID[id]
	ts.mu.Unlock()
	if t == nil {
		return Transfer{}, &interp.GuestError{Type: "ValueError", Message: fmt.Sprintf("no download %d", id)}
	}
	t.waited.Store(time.Now().UnixNano())
	timeout = min(max(timeout, 0), 5*time.Second)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.finished:
	case <-timer.C:
	case <-ctx.Done():
	}
	t.waited.Store(time.Now().UnixNano())
	select {
	case <-t.finished:
		ts.mu.Lock()
		delete(ts.byID, id)
		ts.mu.Unlock()
		if t.err != nil {
			return Transfer{}, t.err
		}
		n := int64(t.result.Size)
		return Transfer{Done: n, Total: n, Finished: true, Fetched: t.result}, nil
	default:
		return Transfer{Done: t.prog.done.Load(), Total: t.prog.total.Load()}, nil
	}
}

// Cancel stops a transfer (the guest was interrupted while it ran).
func (in *Installer) Cancel(id int64) {
	ts := &in.transfers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.byID[id]; t != nil {
		t.cancel()
		delete(ts.byID, id)
	}
}

// Running is how many transfers are kept.
func (in *Installer) Running() int {
	in.transfers.mu.Lock()
	defer in.transfers.mu.Unlock()
	return len(in.transfers.byID)
}
