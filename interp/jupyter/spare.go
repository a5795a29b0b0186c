package jupyter

import (
	"context"
	"errors"
	"sync"

	"github.com/wasipy/wasipy/kernel"
)

// Spare is a kernel.Spare that keeps one interpreter process started
// ahead of need: after each Take it starts the next in the background, so
// that a restart adopts a process whose CPython is already initialised
// instead of waiting for a start (the worker, the module's instantiation,
// CPython's init and the runtime's imports: most of a restart's time).
//
// The price is a second idle worker for the kernel's whole life (see
// kernelcmd's --warm-spare, off by default). The spare is adopted as it is:
// it was started with the same configuration and has run no code, so it
// is as fresh as one started at the restart; only its clocks' origin and
// start time are earlier.
type Spare struct {
	start func(ctx context.Context) (Process, error)
	adopt func(p Process, host kernel.Host) (kernel.Interpreter, error)

	ctx    context.Context // ends the start of the next process at Close
	cancel context.CancelFunc

	mu     sync.Mutex
	next   chan spareResult // the process being prepared, if any
	closed bool
}

type spareResult struct {
	p   Process
	err error
}

var _ kernel.Spare = (*Spare)(nil)

// NewSpare makes a Spare that starts processes with start and makes each
// one the kernel's interpreter with adopt (New, with the kernel's host).
// Nothing starts before the first Take.
func NewSpare(start func(ctx context.Context) (Process, error), adopt func(p Process, host kernel.Host) (kernel.Interpreter, error)) *Spare {
	ctx, cancel := context.WithCancel(context.Background())
	return &Spare{start: start, adopt: adopt, ctx: ctx, cancel: cancel}
}

// Take adopts the prepared process when it started and is still alive,
// else starts one now; then it begins preparing the next.
func (s *Spare) Take(ctx context.Context, host kernel.Host) (kernel.Interpreter, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("jupyter: Take after Close")
	}
	next := s.next
	s.next = nil
	s.mu.Unlock()

	var p Process
	if next != nil {
		// The one in preparation started earlier than any we could
		// start now: wait for it.
		select {
		case r := <-next:
			switch {
			case r.err != nil: // start one now, below
			case ended(r.p):
				r.p.Close()
			default:
				p = r.p
			}
		case <-ctx.Done():
			go closeWhenStarted(next)
			return nil, ctx.Err()
		}
	}
	if p == nil {
		var err error
		if p, err = s.start(ctx); err != nil {
			return nil, err
		}
	}
	in, err := s.adopt(p, host)
	if err != nil {
		p.Close()
		return nil, err
	}
	s.prepare()
	return in, nil
}

// prepare starts the next process in the background.
func (s *Spare) prepare() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.next != nil {
		return
	}
	ch := make(chan spareResult, 1)
	s.next = ch
	go func() {
		p, err := s.start(s.ctx)
		ch <- spareResult{p, err}
	}()
}

// Close ends the prepared process, waiting for its start to give up if it
// is still starting, so that no worker outlives the kernel.
func (s *Spare) Close() {
	s.mu.Lock()
	s.closed = true
	next := s.next
	s.next = nil
	s.mu.Unlock()
	s.cancel()
	if next != nil {
		closeWhenStarted(next)
	}
}

func closeWhenStarted(next <-chan spareResult) {
	if r := <-next; r.err == nil && r.p != nil {
		r.p.Close()
	}
}

// ended reports whether p has already ended (a spare killed while it
// waited).
func ended(p Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
