package kernel

import (
	"sync"
	"sync/atomic"
)

// shellQueueSize is how many shell requests may wait while a cell runs.
const shellQueueSize = 1024

// shellQueue holds shell requests until Run takes them, one at a time, in
// the order they came, and keeps the abort window of stop_on_error.
//
// ipykernel's rule, which this follows: when a cell fails with
// stop_on_error, its execute_reply (and its idle status) goes first; then
// the requests that were already waiting are taken in order, the
// execute_requests among them answered "aborted" and any other request
// served as usual. Requests that arrive after the failure run normally.
// Run takes them after the failed cell's handler returned, so its reply
// and idle status are out before the first of them is answered.
type shellQueue struct {
	requests chan request
	seq      atomic.Uint64 // numbers the requests pushed (restart.go drops those before a restart)

	mu          sync.Mutex
	abortWindow int // how many of the next requests were queued behind a failed cell
}

func newShellQueue() shellQueue {
	return shellQueue{requests: make(chan request, shellQueueSize)}
}

// push queues a shell request; it gives up when quit closes (the kernel is
// shutting down and no one takes requests any more).
func (q *shellQueue) push(r request, quit <-chan struct{}) {
	r.seq = q.seq.Add(1)
	select {
	case q.requests <- r:
	case <-quit:
	}
}

// abortQueued opens the abort window over the requests waiting now. Call
// it before the failed cell's reply is sent, so that no request sent in
// answer to that reply falls in the window.
func (q *shellQueue) abortQueued() {
	q.mu.Lock()
	q.abortWindow = len(q.requests)
	q.mu.Unlock()
}

// inAbortWindow reports, for the request just taken from requests, whether
// it was waiting when a cell failed; each call uses up one place.
func (q *shellQueue) inAbortWindow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.abortWindow == 0 {
		return false
	}
	q.abortWindow--
	return true
}

// last is the number of the last request pushed.
func (q *shellQueue) last() uint64 { return q.seq.Load() }

// resetAbort closes the abort window: a restart ends the session it
// belonged to.
func (q *shellQueue) resetAbort() {
	q.mu.Lock()
	q.abortWindow = 0
	q.mu.Unlock()
}
