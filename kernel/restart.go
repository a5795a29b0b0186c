package kernel

import (
	"context"
	"errors"
	"sync"
	"time"
)

// In-place restart (Options.RestartInPlace). jupyter_client restarts a
// kernel by sending shutdown_request{restart: true}, waiting for the
// process to exit and launching a new one: the new process costs a start,
// and the wait alone polls every 0.1 s. When the kernel's launcher says it
// can take a restart without a new process (wasipy's provisioner does), the
// kernel answers the shutdown_request as ipykernel does and then starts
// the session over in the same process: a fresh interpreter, execution
// count back to 1, a new history session, Go comms closed, and the sockets,
// ports and key kept.
//
// What happens to requests follows ipykernel's restart: requests the old
// kernel had received and not yet served die with it (no reply); requests
// that arrive once the restart began are served by the fresh interpreter,
// as a client's sockets deliver them to ipykernel's new process once it
// binds. The cell that runs when the restart comes was just sent an
// interrupt by the client (jupyter_client interrupts before it asks for a
// shutdown); it gets restartGrace to end with its KeyboardInterrupt reply,
// as ipykernel's cell usually does, then its interpreter is stopped and it
// gets no reply, as a cell of ipykernel's dying process gets none.

// restartGrace is how long a running cell may take to end after the
// client's interrupt before a restart stops its interpreter.
const restartGrace = 200 * time.Millisecond

// errEndedByRestart is what a handler returns when a restart ended the
// request under it: it gets no reply and no idle status.
var errEndedByRestart = errors.New("the kernel restarted under this request")

// restartState orders restarts with the shell queue.
type restartState struct {
	mu      sync.Mutex
	pending bool   // a restart began and Run has not finished it yet
	cut     uint64 // shell requests numbered up to cut came before the restart
	gen     uint64 // counts restarts: a cell that began before one sees it changed
	// stopped is closed once the old interpreter is stopped: Run must not
	// start the fresh one before (the control reader would stop it).
	stopped chan struct{}
	wake    chan struct{}
}

func newRestartState() restartState {
	return restartState{wake: make(chan struct{}, 1)}
}

// generation is the number of restarts begun so far.
func (s *restartState) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// begin records a restart that drops the shell requests numbered up to
// cut, and wakes Run; it returns the restart's generation and the
// function to call once the old interpreter is stopped.
func (s *restartState) begin(cut uint64) (gen uint64, stopped func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.pending = true
	s.cut = cut
	s.gen++
	s.stopped = ch
	gen = s.gen
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return gen, func() { close(ch) }
}

// take reports whether a restart is pending, and clears it; the channel
// it returns is closed once the old interpreter is stopped.
func (s *restartState) take() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = false
	return p, s.stopped
}

// dropped reports whether r came before the last restart: the old kernel
// had received it, so it dies with the old session.
func (s *restartState) dropped(r request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen > 0 && r.seq <= s.cut
}

// restartInPlace begins a restart asked for by shutdown_request, on the
// control reader after the shutdown_reply went out. It numbers the
// restart and returns; the old interpreter is stopped on a goroutine, once
// the running cell ended or its grace ran out, so the shutdown_request's
// idle status comes before the interrupted cell's last messages, as with
// ipykernel. Run starts the fresh session before it takes another shell
// request.
func (k *Kernel) restartInPlace() {
	k.log.Info("restarting in place: a fresh interpreter, the same process and sockets")
	gen, stopped := k.restarts.begin(k.queue.last())
	// An input() the old session waits for ends as an interrupt ends it,
	// so its cell can still end within the grace; a late input_reply
	// finds no question and is dropped.
	k.stdin.cancel()
	_, done := k.cells.current()
	go func() {
		defer stopped()
		idle := true
		if done != nil {
			select {
			case <-done:
			case <-time.After(restartGrace):
				idle = false // still running: it cannot be renewed, only stopped
			}
		}
		// A later restart stops whatever runs then, itself: this one must
		// not stop an interpreter started after it. An idle interpreter
		// that can renew itself is kept for finishRestart to renew.
		if k.restarts.generation() == gen {
			k.sup.retire(idle)
		}
	}()
}

// finishRestart starts the session over if a restart is pending. Run
// calls it before it serves each shell request, so nothing runs in the old
// session's state once a restart began.
func (k *Kernel) finishRestart(ctx context.Context) {
	pending, stopped := k.restarts.take()
	if !pending {
		return
	}
	started := time.Now()
	<-stopped // at most restartGrace: the control reader stops the old interpreter
	k.queue.resetAbort()
	k.cells.reset()
	k.output.reset()
	k.sup.takeLostNote()
	// The frontend forgets its comms on a restart; Go code holding one
	// learns that it is closed.
	k.comms.Reset()
	k.newHistorySession()
	if err := k.sup.restart(ctx); err != nil {
		// The next request tries again (supervisor.current) and says why
		// if it cannot.
		k.log.Error("restart in place: the fresh interpreter did not start", "err", err)
	}
	// What a fresh ipykernel process publishes first.
	k.publishStatus(nil, "starting")
	k.log.Info("restarted in place", "took", time.Since(started).Round(time.Millisecond))
}

// newHistorySession starts a new session in the history store, as a new
// kernel process would: %history and history_request of the fresh session
// see only its own cells.
func (k *Kernel) newHistorySession() {
	old := k.historySession()
	if old == nil {
		return
	}
	sess, err := old.Store().NewSession()
	if err != nil {
		k.log.Warn("restart in place: no new history session; the old one goes on", "err", err)
		return
	}
	k.hist.Store(sess)
}
