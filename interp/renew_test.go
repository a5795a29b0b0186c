package interp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Renew gives a fresh interpreter in the same worker process: the old
// one's variables are gone, the worker (and its compiled module) stays,
// the old Process reports it was replaced and closing it leaves the
// worker alone; a Go module registered before carries over.
func TestRenewIsAFreshInterpreterInTheSameWorker(t *testing.T) {
	p := startTest(t)
	if p.StartInfo().Image == "" {
		t.Skip("python.wasm is a command build: no renew in place")
	}
	_, rec := execute(t, p, "x = 41\nprint(x + 1)")
	require.Equal(t, "42\n", rec.stream("stdout"))
	pid := p.cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	n, err := p.Renew(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	t.Logf("renewed in %v (%s)", time.Since(began), n.StartInfo().Image)

	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the renewed Process did not end")
	}
	require.ErrorContains(t, p.Err(), "replaced")
	require.NoError(t, p.Close()) // must not end the worker
	require.Equal(t, pid, n.cmd.Process.Pid)

	_, rec = execute(t, n, "print('x' in globals())")
	require.Equal(t, "False\n", rec.stream("stdout"))
	// And again: the next one renews the same way.
	n2, err := n.Renew(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { n2.Close() })
	_, rec = execute(t, n2, "import os; print(os.getcwd() != '/')")
	require.Equal(t, "True\n", rec.stream("stdout"))
	require.NoError(t, n2.Close())
	select {
	case <-n2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the worker")
	}
}

// A busy interpreter is not renewed: it might never give the worker back.
func TestRenewRefusesABusyInterpreter(t *testing.T) {
	p := startTest(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = p.Call(ctx, "execute", map[string]any{"code": "import time; time.sleep(2)", "execution_count": 1}, nil)
	}()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.current != nil
	}, 10*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.Renew(ctx)
	require.ErrorIs(t, err, ErrBusy)
	<-done
}

// Interrupts reach a renewed interpreter's running code: its memory is a
// new instance's, and its requests are numbered on from the worker's
// earlier frames (interrupt.Relay counts every frame of the worker's life:
// numbering from zero made each interrupt act at once, before the request
// it follows had arrived).
func TestInterruptReachesARenewedInterpreter(t *testing.T) {
	p := startTest(t)
	if p.StartInfo().Image == "" {
		t.Skip("python.wasm is a command build: no renew in place")
	}
	for i := 0; i < 20; i++ { // frames the worker counts before the renew
		execute(t, p, "pass")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.Renew(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	n.outMu.Lock()
	seq := n.outSeq
	n.outMu.Unlock()
	require.GreaterOrEqual(t, seq, uint64(20), "the renewed Process numbers its frames from zero")
	for i := 0; i < 3; i++ {
		done := make(chan map[string]any, 1)
		go func() {
			reply, _ := execute(t, n, "while True: pass")
			done <- reply
		}()
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, n.Interrupt())
		select {
		case reply := <-done:
			require.Equal(t, "KeyboardInterrupt", reply["ename"])
		case <-time.After(10 * time.Second):
			t.Fatal("the interrupt did not stop the renewed interpreter's cell")
		}
	}
}
