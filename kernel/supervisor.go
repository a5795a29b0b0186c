package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wasipy/wasipy/protocol/content"
)

// freshInterpreterNote is what the user is told whenever an interpreter
// had to be replaced: ipykernel's frontends say "The kernel appears to have
// died. It will restart automatically."; here the kernel lives on, so it
// says so itself, plainly.
const freshInterpreterNote = "The interpreter was restarted: a fresh one runs your next cells, and the variables, imports and definitions of earlier cells are gone (run the cells you need again). The kernel, its execution count and history are kept."

// supervisor owns the interpreter: it starts it, replaces it when it dies
// (at once when it dies between cells, from the cell when it dies under
// one), and escalates an interrupt that a cell ignores into a restart.
type supervisor struct {
	start Starter
	host  Host
	cells *cellState
	exit  *exitState
	grace time.Duration // InterruptGrace
	log   *slog.Logger

	lifeMu sync.Mutex // held while an interpreter is started or replaced

	mu          sync.Mutex
	in          Interpreter
	retired     Renewer                 // kept by retire for the next start to renew
	info        content.KernelInfoReply // of the last interpreter started
	lostNote    string                  // says the last interpreter died while idle; told on the next cell
	interrupted time.Time               // when the running cell was first interrupted
}

func newSupervisor(start Starter, host Host, cells *cellState, exit *exitState, grace time.Duration, log *slog.Logger) *supervisor {
	return &supervisor{start: start, host: host, cells: cells, exit: exit, grace: grace, log: log}
}

func (s *supervisor) restart(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.startLocked(ctx)
}

// startLocked replaces the interpreter; the caller holds lifeMu.
func (s *supervisor) startLocked(ctx context.Context) error {
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	s.mu.Unlock()
	s.close()
	in, err := s.renew(ctx, retired)
	if in == nil {
		in, err = s.start(ctx, s.host)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.in = in
	s.info = in.KernelInfo()
	s.mu.Unlock()
	go s.watch(in)
	return nil
}

// watch replaces the interpreter if it dies while no cell runs (killed,
// a trap in a background task, os._exit from an asyncio callback), so
// the next cell finds a fresh one at once; that cell tells the user. A
// death during a cell is reported by the cell (execute.go); an
// interpreter closed on purpose is no longer s.in.
func (s *supervisor) watch(in Interpreter) {
	<-in.Done()
	s.mu.Lock()
	idle := s.in == in && !s.cells.isRunning()
	s.mu.Unlock()
	if idle && (s.exit.endedByGuest(in.Err(), s.log) || s.exit.hasEnded()) {
		return
	}
	if idle {
		s.replaceDead(context.Background(), in)
	}
}

// replaceDead starts a fresh interpreter in place of dead, unless another
// goroutine already did, and keeps a note for the next cell.
func (s *supervisor) replaceDead(ctx context.Context, dead Interpreter) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.mu.Lock()
	current := s.in == dead
	s.mu.Unlock()
	if !current {
		return
	}
	reason := exitReason(dead)
	s.log.Warn("the interpreter died while idle; starting a fresh one", "reason", reason)
	note := fmt.Sprintf("The interpreter stopped after the previous cell (%s). %s\n", reason, freshInterpreterNote)
	if err := s.startLocked(ctx); err != nil {
		s.log.Error("cannot restart the interpreter", "err", err)
		note = fmt.Sprintf("The interpreter stopped after the previous cell (%s), and a new one could not be started (%v). The variables of earlier cells are gone.\n", reason, err)
	}
	s.mu.Lock()
	s.lostNote = note
	s.mu.Unlock()
}

// exitReason says how an interpreter ended, if it can tell.
func exitReason(in Interpreter) string {
	if err := in.Err(); err != nil {
		return err.Error()
	}
	return "it exited"
}

func (s *supervisor) close() {
	s.mu.Lock()
	in, retired := s.in, s.retired
	s.in, s.retired = nil, nil
	s.mu.Unlock()
	if in != nil {
		in.Close()
	}
	if retired != nil {
		retired.Close()
	}
}

// retire takes the interpreter out of service for a restart: an idle one
// that can renew itself is kept for startLocked to renew (a fresh
// interpreter in the same worker); any other is closed.
func (s *supervisor) retire(idle bool) {
	s.mu.Lock()
	in := s.in
	r, ok := in.(Renewer)
	if ok && idle && s.retired == nil {
		s.in, s.retired = nil, r
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.close()
}

// renew asks a retired interpreter, if any, for a fresh one; (nil, nil)
// when there is none or it could not (then it is closed, and the caller
// starts one).
func (s *supervisor) renew(ctx context.Context, r Renewer) (Interpreter, error) {
	if r == nil {
		return nil, nil
	}
	in, err := r.Renew(ctx, s.host)
	if err != nil {
		s.log.Info("the interpreter could not renew itself; starting a new one", "err", err)
		r.Close()
		return nil, nil
	}
	return in, nil
}

// current is the running interpreter. One that died while idle is
// replaced first (watch may not have got to it yet). When there is none
// (a restart failed), it tries once more to start one.
func (s *supervisor) current(ctx context.Context) (Interpreter, error) {
	s.mu.Lock()
	in := s.in
	s.mu.Unlock()
	if in != nil {
		select {
		case <-in.Done():
			s.replaceDead(ctx, in)
			s.mu.Lock()
			in = s.in
			s.mu.Unlock()
		default:
		}
	}
	if in != nil {
		return in, nil
	}
	if err := s.restart(ctx); err != nil {
		return nil, fmt.Errorf("the interpreter could not be started: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in, nil
}

// kernelInfo is the language's part of kernel_info_reply, as the last
// interpreter started gave it (kernel_info is answered even while none
// runs).
func (s *supervisor) kernelInfo() content.KernelInfoReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// takeLostNote returns, once, the note that the interpreter was replaced
// since the last cell.
func (s *supervisor) takeLostNote() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	note := s.lostNote
	s.lostNote = ""
	return note
}

// beginCell forgets the interrupts of the previous cell.
func (s *supervisor) beginCell() {
	s.mu.Lock()
	s.interrupted = time.Time{}
	s.mu.Unlock()
}

// forced reports whether the running cell's interpreter was stopped by a
// second interrupt.
func (s *supervisor) forced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.interrupted.IsZero()
}

// interrupt interrupts the running cell. When a cell is still running
// grace after a first interrupt (stuck where Python cannot see the
// interrupt), a second interrupt replaces its interpreter: the cell sees
// the interpreter end, and execute restarts it.
func (s *supervisor) interrupt() error {
	running := s.cells.isRunning()
	s.mu.Lock()
	in := s.in
	first := s.interrupted
	if running && first.IsZero() {
		s.interrupted = time.Now()
	}
	s.mu.Unlock()
	switch {
	case in == nil:
		return nil
	case running && !first.IsZero() && time.Since(first) >= s.grace:
		s.log.Warn("the cell ignored an interrupt; replacing the interpreter")
		return in.Close()
	default:
		return in.Interrupt()
	}
}

// lost reports a cell whose interpreter ended under it (crash, os._exit,
// or a restart forced by a second interrupt) and starts a fresh
// interpreter. It returns the error to publish and reply with.
func (s *supervisor) lost(ctx context.Context, cause error) *content.Error {
	ename, evalue := "InterpreterExited", "the interpreter died while this cell ran: "+cause.Error()
	if s.forced() {
		ename, evalue = "KeyboardInterrupt", "the cell did not stop when interrupted, so its interpreter was stopped"
	}
	note := freshInterpreterNote
	s.mu.Lock()
	s.lostNote = "" // this error tells it; the next cell need not
	s.mu.Unlock()
	if err := s.restart(ctx); err != nil {
		s.log.Error("cannot restart the interpreter", "err", err)
		note = fmt.Sprintf("A new interpreter could not be started (%v); the next cell tries again.", err)
	}
	return &content.Error{Ename: ename, Evalue: evalue, Traceback: []string{fmt.Sprintf("%s: %s\n%s", ename, evalue, note)}}
}
