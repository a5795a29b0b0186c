package interp

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// dropLog reports frames of the guest that were dropped or refused. Cell
// code decides how many there are, so the log is rate-limited: at most
// dropLogBurst lines per dropLogEvery, then one line that says how many
// more were dropped meanwhile. Counts are kept for tests.
type dropLog struct {
	log *slog.Logger

	mu         sync.Mutex
	windowFrom time.Time
	inWindow   int
	suppressed int
	total      int
}

const (
	dropLogBurst = 10
	dropLogEvery = time.Second
)

func newDropLog(w io.Writer) *dropLog {
	h := slog.Handler(slog.DiscardHandler)
	if w != nil {
		h = slog.NewTextHandler(w, nil)
	}
	return &dropLog{log: slog.New(h).With("component", "interpreter channel")}
}

func (d *dropLog) drop(what string, args ...any) {
	d.mu.Lock()
	d.total++
	now := time.Now()
	if now.Sub(d.windowFrom) >= dropLogEvery {
		if d.suppressed > 0 {
			d.log.Warn("more guest frames dropped", "count", d.suppressed)
		}
		d.windowFrom, d.inWindow, d.suppressed = now, 0, 0
	}
	if d.inWindow >= dropLogBurst {
		d.suppressed++
		d.mu.Unlock()
		return
	}
	d.inWindow++
	d.mu.Unlock()
	d.log.Warn("guest frame dropped: "+what, args...)
}

// dropped is how many frames were dropped so far.
func (d *dropLog) dropped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}
