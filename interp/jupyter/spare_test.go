package jupyter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/kernel"
)

// spareProcess is a Process that can be ended and counts its closes.
type spareProcess struct {
	fakeProcess
	id       int
	done     chan struct{}
	closeOne sync.Once
}

func (p *spareProcess) Done() <-chan struct{} { return p.done }
func (p *spareProcess) Close() error {
	p.closeOne.Do(func() { close(p.done) })
	return nil
}

// spareStarts starts spareProcesses and records them.
type spareStarts struct {
	mu       sync.Mutex
	procs    []*spareProcess
	attempts int
	failAt   map[int]bool // attempts (from 0) that fail
}

func (s *spareStarts) start(ctx context.Context) (Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failAt[s.attempts-1] {
		return nil, errors.New("no start")
	}
	p := &spareProcess{fakeProcess: fakeProcess{hello: hello}, id: len(s.procs), done: make(chan struct{})}
	s.procs = append(s.procs, p)
	return p, nil
}

func (s *spareStarts) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs)
}

func (s *spareStarts) proc(i int) *spareProcess {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[i]
}

func adoptFake(p Process, host kernel.Host) (kernel.Interpreter, error) {
	return New(p, host, Options{Implementation: "wasipy", Version: "test"})
}

func adoptedID(t *testing.T, in kernel.Interpreter) int {
	t.Helper()
	return in.(*Interpreter).p.(*spareProcess).id
}

func TestSpareAdoptsThePreparedProcess(t *testing.T) {
	starts := &spareStarts{}
	s := NewSpare(starts.start, adoptFake)
	first, err := s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 0, adoptedID(t, first))
	require.Eventually(t, func() bool { return starts.n() == 2 }, 5*time.Second, time.Millisecond, "the next is prepared after a Take")
	second, err := s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 1, adoptedID(t, second), "a restart takes the prepared process")
	require.Eventually(t, func() bool { return starts.n() == 3 }, 5*time.Second, time.Millisecond)
	s.Close()
	require.True(t, ended(starts.proc(2)), "Close ends the prepared process")
	require.False(t, ended(starts.proc(1)), "Close leaves the adopted one to its owner")
	_, err = s.Take(context.Background(), nil)
	require.Error(t, err)
}

func TestSpareReplacesADeadSpare(t *testing.T) {
	starts := &spareStarts{}
	s := NewSpare(starts.start, adoptFake)
	defer s.Close()
	_, err := s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return starts.n() == 2 }, 5*time.Second, time.Millisecond)
	starts.proc(1).Close() // the spare died while it waited (killed, out of memory)
	in, err := s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 2, adoptedID(t, in), "a dead spare is not adopted; one is started now")
}

func TestSpareStartsNowWhenPreparingFailed(t *testing.T) {
	// Attempt 0 (the first Take) fails; attempt 1 (the second Take)
	// starts; attempt 2 (its spare) fails; attempt 3 is the third Take's.
	starts := &spareStarts{failAt: map[int]bool{0: true, 2: true}}
	s := NewSpare(starts.start, adoptFake)
	defer s.Close()
	_, err := s.Take(context.Background(), nil)
	require.Error(t, err, "no spare and no start: the error is the start's")
	in, err := s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 0, adoptedID(t, in))
	in, err = s.Take(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 1, adoptedID(t, in), "a failed preparation is replaced by a start now")
	starts.mu.Lock()
	defer starts.mu.Unlock()
	require.GreaterOrEqual(t, starts.attempts, 4)
}
