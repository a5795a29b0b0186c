package interp

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// account is a Go struct that Python sees through a GoProxy.
type account struct {
	Owner   string
	Balance int64
	Tags    []string
	Limits  map[string]int
	private int
}

func (a *account) Deposit(n int64) int64 { a.Balance += n; return a.Balance }

func (a *account) Withdraw(ctx context.Context, n int64) (int64, error) {
	if n > a.Balance {
		return 0, &GuestError{Type: "ValueError", Message: "insufficient funds"}
	}
	a.Balance -= n
	return a.Balance, nil
}

// bridgeModule is a Go module for the bridge's tests.
func bridgeModule(acct *account) *Module {
	return &Module{
		Name:   "bridge",
		Errors: map[string]string{"QuotaError": "ValueError"},
		Funcs: map[string]Func{
			"account": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return acct, nil
			},
			"fresh": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return &account{Owner: fmt.Sprint(args[0])}, nil
			},
			"hold": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				// Takes a Python object as a handle and drops it.
				_, ok := args[0].(*PyObject)
				return ok, nil
			},
			"relay": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				// Calls the Python callable and hands its error back.
				_, err := args[0].(*PyObject).Call(ctx, nil, nil)
				if wrap, _ := kwargs["wrap"].(bool); wrap && err != nil {
					return nil, fmt.Errorf("relay failed: %w", err)
				}
				return nil, err
			},
			"fail": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				switch args[0] {
				case "key":
					return nil, &GuestError{Type: "KeyError", Message: "missing"}
				case "timeout":
					c, cancel := context.WithTimeout(ctx, time.Nanosecond)
					defer cancel()
					<-c.Done()
					return nil, fmt.Errorf("waiting for the disk: %w", c.Err())
				case "quota":
					return nil, &GuestError{Type: "bridge.QuotaError", Message: "over quota"}
				}
				root := errors.New("root cause")
				return nil, fmt.Errorf("outer: %w", fmt.Errorf("middle: %w", root))
			},
		},
	}
}

// waitHandles collects garbage on both sides until both handle tables
// are empty, or fails after a while with the counts.
func waitHandles(t *testing.T, p *Process) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		// A round trip carries Python's releases (go_release goes out
		// before every reply) and lets the cleanups' py_release arrive.
		_, err := p.Eval(ctx, "__import__('gc').collect()")
		require.NoError(t, err)
		py, err := p.PyHandles(ctx)
		require.NoError(t, err)
		if py == 0 && p.GoHandles() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handles left: %d Python objects held by Go, %d Go values held by Python", py, p.GoHandles())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Promise: thousands of crossings with no explicit release end with both
// handle tables empty: Python's collector releases GoProxies, Go's
// releases PyObjects; explicit Release/destroy stay idempotent.
func TestLifetimesWithoutReleases(t *testing.T) {
	acct := &account{Owner: "ann"}
	p := startWithModules(t, bridgeModule(acct))
	ctx := context.Background()
	reply, rec := execute(t, p, `
import bridge
n = 0
for i in range(2000):
    a = bridge.fresh(i)           # a Go value Python drops at once
    n += bridge.hold(object())    # a Python object Go drops
    del a
print(n)
p = bridge.fresh('x'); p.destroy(); p.destroy()
print(repr(p))
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "2000\n<destroyed GoProxy of *interp.account>\n", rec.stream("stdout"))
	for i := 0; i < 2000; i++ {
		o, err := p.EvalRef(ctx, "[args[0]]", int64(i))
		require.NoError(t, err)
		if i%500 == 0 {
			o.Release()
			o.Release() // idempotent
		}
	}
	waitHandles(t, p)
}

// Promise: an exception raised in Python that passes through Go and back
// is the same object; a Go error chooses its Python class (builtin, a
// class the module declares, TimeoutError for a deadline) and its %w
// chain arrives as __cause__.
func TestErrorsKeepTheirIdentity(t *testing.T) {
	p := startWithModules(t, bridgeModule(&account{}))
	reply, rec := execute(t, p, `
import bridge
e = ValueError('bad')
def boom():
    raise e
try:
    bridge.relay(boom)
except ValueError as got:
    print('same', got is e)
try:
    bridge.relay(boom, wrap=True)
except Exception as got:
    print(type(got).__name__, got, '| cause is e:', got.__cause__ is e)
try:
    bridge.fail('key')
except KeyError as got:
    print('KeyError', got)
try:
    bridge.fail('timeout')
except TimeoutError as got:
    print('TimeoutError', got)
try:
    bridge.fail('quota')
except ValueError as got:
    print(type(got).__module__, type(got).__name__, isinstance(got, bridge.QuotaError), got)
try:
    bridge.fail('chain')
except Exception as got:
    print(got, '<-', got.__cause__, '<-', got.__cause__.__cause__)
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, strings.Join([]string{
		"same True",
		"HostError relay failed: Python ValueError: bad | cause is e: True",
		"KeyError 'missing'",
		"TimeoutError waiting for the disk: context deadline exceeded",
		"bridge QuotaError True over quota",
		"outer: middle: root cause <- middle: root cause <- root cause",
	}, "\n")+"\n", rec.stream("stdout"))
	waitHandles(t, p)
}

// Promise: a *PyObject can be used from Go without Eval strings:
// attributes, items, len, iteration, calls with keyword arguments, its
// type and repr; values set and read back are equal (property-style).
func TestPyObjectMethods(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	obj, err := p.EvalRef(ctx, "type('Box', (), {'__init__': lambda self: None, 'scale': lambda self, x, by=1: x * by})()")
	require.NoError(t, err)
	require.Equal(t, "Box", obj.Type())
	require.NoError(t, obj.SetAttr(ctx, "label", "hello"))
	v, err := obj.GetAttr(ctx, "label")
	require.NoError(t, err)
	require.Equal(t, "hello", v)
	v, err = obj.CallMethodKw(ctx, "scale", []any{int64(3)}, map[string]any{"by": int64(5)})
	require.NoError(t, err)
	require.Equal(t, int64(15), v)
	repr, err := obj.Repr(ctx)
	require.NoError(t, err)
	require.Contains(t, repr, "Box object")

	fn, err := p.EvalRef(ctx, "lambda *a, **k: (a, sorted(k.items()))")
	require.NoError(t, err)
	v, err = fn.Call(ctx, []any{int64(1)}, map[string]any{"z": "last", "a": "first"})
	require.NoError(t, err)
	require.Equal(t, Tuple{Tuple{int64(1)}, []any{Tuple{"a", "first"}, Tuple{"z", "last"}}}, v)

	d, err := p.EvalRef(ctx, "{}")
	require.NoError(t, err)
	r := rand.New(rand.NewSource(2))
	keys := []any{}
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("k%d", i)
		val := randomValue(r, 2)
		require.NoError(t, d.SetItem(ctx, key, val))
		got, err := d.GetItem(ctx, key)
		require.NoError(t, err)
		require.True(t, equalValues(val, got), "%#v came back as %#v", val, got)
		keys = append(keys, key)
	}
	n, err := d.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	var seen []any
	for k, err := range d.Iter(ctx) {
		require.NoError(t, err)
		seen = append(seen, k)
	}
	require.Equal(t, keys, seen)
	in, err := d.Contains(ctx, "k7")
	require.NoError(t, err)
	require.True(t, in)
	require.NoError(t, d.DelItem(ctx, "k7"))
	_, err = d.GetItem(ctx, "k7")
	var pe *PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Type)
	obj, fn, d, pe = nil, nil, nil, nil
	waitHandles(t, p)
}

// Promise: a GoProxy over a Go struct, its slices and maps and its methods
// supports attributes, items, len, iteration, calls and to_py(), and
// changes made in Python reach the Go value behind a pointer.
func TestGoProxyOverStructs(t *testing.T) {
	acct := &account{Owner: "ann", Balance: 10, Tags: []string{"a", "b"}, Limits: map[string]int{"day": 5, "week": 20}}
	p := startWithModules(t, bridgeModule(acct))
	reply, rec := execute(t, p, `
import bridge
a = bridge.account()
print(a.Owner, a.Balance, a.Tags[1], len(a.Tags), list(a.Tags), len(a.Limits), list(a.Limits), a.Limits['week'])
print(a.Deposit(5), a.Withdraw(3))
try:
    a.Withdraw(100)
except ValueError as e:
    print('ValueError', e)
a.Owner = 'bob'
a.Tags[0] = 'z'
a.Limits['year'] = 99
try:
    a.private
except AttributeError:
    print('private hidden')
try:
    a.Balance = 'lots'
except TypeError as e:
    print('TypeError')
print(sorted(a.to_py().items()))
print(sorted(dir(a)))
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, strings.Join([]string{
		"ann 10 b 2 ['a', 'b'] 2 ['day', 'week'] 20",
		"15 12",
		"ValueError insufficient funds",
		"private hidden",
		"TypeError",
		"[('Balance', 12), ('Limits', {'day': 5, 'week': 20, 'year': 99}), ('Owner', 'bob'), ('Tags', ['z', 'b'])]",
		"['Balance', 'Deposit', 'Limits', 'Owner', 'Tags', 'Withdraw']",
	}, "\n")+"\n", rec.stream("stdout"))
	require.Equal(t, "bob", acct.Owner)
	require.Equal(t, []string{"z", "b"}, acct.Tags)
	require.Equal(t, 99, acct.Limits["year"])
	execute(t, p, "del a")
	waitHandles(t, p)
}

// Promise: Go awaits Python: EvalAsync runs code with top-level await and
// returns its last value converted; a coroutine Go holds can be awaited;
// errors are *PythonError; cancelling the context cancels the task.
func TestAwaitBothWays(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	v, err := p.EvalAsync(ctx, "import asyncio\nawait asyncio.sleep(0.01)\nargs[0] * 2", int64(21))
	require.NoError(t, err)
	require.Equal(t, int64(42), v)

	coro, err := p.EvalRef(ctx, "__import__('asyncio').sleep(0.01, result=('done', 7))")
	require.NoError(t, err)
	v, err = coro.Await(ctx)
	require.NoError(t, err)
	require.Equal(t, Tuple{"done", int64(7)}, v)

	_, err = p.EvalAsync(ctx, "import asyncio\nawait asyncio.sleep(0)\nraise KeyError('gone')")
	var pe *PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Type)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.ExecAsync(short, "import asyncio\nstate = 'running'\ntry:\n    await asyncio.sleep(30)\nfinally:\n    state = 'cancelled'")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Eventually(t, func() bool {
		v, err := p.ExecAsync(ctx, "state")
		return err == nil && v == "cancelled"
	}, 5*time.Second, 20*time.Millisecond)
	coro, pe = nil, nil
	waitHandles(t, p)
}

// Promise: a goroutine's calls into Python while an async cell runs are
// served at the cell's next await point, not after the cell: it feeds
// data into the running cell.
func TestCallsReachABusyCell(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var reply map[string]any
	var rec *recorder
	wg.Add(1)
	go func() {
		defer wg.Done()
		reply, rec = execute(t, p, `
import asyncio
inbox = asyncio.Queue()
got = []
while len(got) < 5:
    got.append(await inbox.get())
print(got)
`)
	}()
	var worst time.Duration
	for i := 0; i < 5; i++ {
		for {
			start := time.Now()
			_, err := p.ExecAsync(ctx, fmt.Sprintf("inbox.put_nowait(%d)", i))
			if err == nil {
				worst = max(worst, time.Since(start))
				break
			}
			var pe *PythonError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "NameError", pe.Type, "the cell has not made its queue yet")
			time.Sleep(10 * time.Millisecond)
		}
		// Eval too is served while the cell waits.
		v, err := p.Eval(ctx, "args[0] + 1", int64(i))
		require.NoError(t, err)
		require.Equal(t, int64(i+1), v)
	}
	wg.Wait()
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "[0, 1, 2, 3, 4]\n", rec.stream("stdout"))
	t.Logf("slowest call into the busy cell: %v", worst)
	require.Less(t, worst, time.Second)
}

// Promise: wasipy.run_sync and asyncio.run work in synchronous code,
// also when it is called from a cell that is itself awaiting (the loop
// runs nested, as ipykernel allows with nest_asyncio).
func TestRunSyncAndNestedRun(t *testing.T) {
	p := startWithModules(t)
	reply, rec := execute(t, p, `
import asyncio, wasipy
async def double(x):
    await asyncio.sleep(0.01)
    return x * 2
def library(x):
    return asyncio.run(double(x))
print(wasipy.run_sync(double(1)), library(2))
async def main():
    t = asyncio.create_task(double(10))
    return library(3) + wasipy.run_sync(double(4)) + await t
print(await main())
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "2 4\n34\n", rec.stream("stdout"))
}

// Promise: conversion can be controlled: ByRef hands Python the Go slice
// itself, a Converter turns custom Go types into Python values,
// wasipy.to_go(depth=0) hands Go a Python list by reference, and
// wasipy.to_py copies a proxy.
func TestConversionControl(t *testing.T) {
	type point struct{ X, Y int }
	shared := []int64{1, 2, 3}
	var fromPython *PyObject
	mod := &Module{Name: "conv", Funcs: map[string]Func{
		"shared": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return ByRef(shared), nil
		},
		"point": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return point{3, 4}, nil
		},
		"keep": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			fromPython, _ = args[0].(*PyObject)
			return nil, nil
		},
		"echo": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
			return args[0], nil
		},
	}}
	p := startWithModules(t, mod)
	p.SetConverter(func(v any) (any, bool) {
		if pt, ok := v.(point); ok {
			return Tuple{int64(pt.X), int64(pt.Y)}, true
		}
		return nil, false
	})
	reply, rec := execute(t, p, `
import conv, wasipy
s = conv.shared()
s[0] = 100
print(type(s).__name__, wasipy.to_py(s), conv.point())
mine = [1]
conv.keep(wasipy.to_go(mine, depth=0))
mine.append(2)
from fractions import Fraction
print(conv.echo(wasipy.to_go([Fraction(1, 4), 'x'], default=float)))
nested = conv.echo(wasipy.to_go([[1], [2]], depth=1))
print(type(nested).__name__, type(nested[0]).__name__, nested[0] is not None)
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "GoProxy [100, 2, 3] (3, 4)\n[0.25, 'x']\nlist list True\n", rec.stream("stdout"))
	require.Equal(t, int64(100), shared[0])
	require.NotNil(t, fromPython)
	n, err := fromPython.Len(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, n, "Go sees the list itself")
}

// Promise: an embedder gets raw stdout bytes and batched lines, gives
// sys.stdin a reader, and registers a module on a running interpreter.
func TestStreamsStdinAndLateModules(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	var mu sync.Mutex
	var raw strings.Builder
	var lines []string
	lw := NewLineWriter(func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() })
	p.SetStreams(Streams{
		Stdout: writerFunc(func(b []byte) { mu.Lock(); raw.Write(b); mu.Unlock() }),
		Stderr: lw,
	})
	require.NoError(t, p.SetStdin(ctx, strings.NewReader("first line\nsecond\nrest")))
	require.NoError(t, p.RegisterModule(ctx, &Module{Name: "late", Funcs: map[string]Func{
		"hi": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) { return "hi from Go", nil },
	}}))
	reply, _ := execute(t, p, `
import sys, late
print(late.hi())
print(repr(sys.stdin.readline()), repr(sys.stdin.read()))
sys.stderr.write('err one\nerr two\n')
`)
	require.Equal(t, "ok", reply["status"], reply)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "hi from Go\n'first line\\n' 'second\\nrest'\n", raw.String())
	require.Equal(t, []string{"err one", "err two"}, lines)
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// Promise: a call from Go queued behind a cell that never awaits does not
// hold back an interrupt of that cell; the call is served once the cell
// ends.
func TestEvalBehindASpinningCellLetsInterruptsThrough(t *testing.T) {
	p := startWithModules(t)
	done := make(chan map[string]any, 1)
	go func() {
		reply, _ := execute(t, p, "while True: pass")
		done <- reply
	}()
	time.Sleep(300 * time.Millisecond)
	evaluated := make(chan any, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		v, err := p.Eval(ctx, "6 * 7")
		require.NoError(t, err)
		evaluated <- v
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, p.Interrupt())
	select {
	case reply := <-done:
		require.Equal(t, "KeyboardInterrupt", reply["ename"])
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupt did not stop the cell")
	}
	select {
	case v := <-evaluated:
		require.Equal(t, int64(42), v)
	case <-time.After(10 * time.Second):
		t.Fatal("the queued Eval was never served")
	}
}

// Promise: when Go stops waiting for a call (its deadline passed), the
// handles the late reply carries are released, so nothing leaks.
func TestAbandonedCallsLeakNoHandles(t *testing.T) {
	p := startWithModules(t)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Eval(short, "__import__('time').sleep(0.3) or [object(), object()]")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	time.Sleep(400 * time.Millisecond)
	waitHandles(t, p)
}

type inner struct{ X int }
type outer struct{ *inner }

// Promise: a Go value whose reflection panics (a nil embedded pointer)
// raises in Python; the kernel process keeps serving.
func TestGoProxyPanicsBecomeExceptions(t *testing.T) {
	p := startWithModules(t, &Module{Name: "odd", Funcs: map[string]Func{
		"value": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) { return outer{}, nil },
	}})
	reply, rec := execute(t, p, `
import odd, wasipy
try:
    odd.value().X
except wasipy.HostError as e:
    print('HostError', 'panicked' in str(e))
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "HostError True\n", rec.stream("stdout"))
}

// Promise (property-style): generated values stored through a GoProxy
// into a Go map and read back are equal, on both sides.
func TestGoProxyItemsRoundTrip(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	m := map[string]any{}
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 100; i++ {
		v := randomValue(r, 2)
		key := fmt.Sprintf("k%d", i)
		got, err := p.Eval(ctx, "(lambda g: (g.__setitem__(args[1], args[2]), g[args[1]])[1])(args[0])", ByRef(m), key, v)
		require.NoError(t, err)
		require.True(t, equalValues(v, got), "%#v came back as %#v", v, got)
		require.True(t, equalValues(v, m[key]), "Go holds %#v for %#v", m[key], v)
	}
	waitHandles(t, p)
}
