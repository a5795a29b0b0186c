package interp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoModule is a Go module for the tests: it hands values back, fails on
// request, sleeps asynchronously and calls back into Python.
func echoModule(calls *int) *Module {
	return &Module{
		Name: "gotest",
		Funcs: map[string]Func{
			"echo": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				*calls++
				return args[0], nil
			},
			"kwargs": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return kwargs, nil
			},
			"fail": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return nil, errors.New("go says no")
			},
			"permission": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return nil, &GuestError{Type: "PermissionError", Message: "not allowed"}
			},
			"panics": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				panic("boom")
			},
			"opaque": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return struct{ X int }{7}, nil
			},
			"adder": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				n := args[0].(int64)
				return Func(func(ctx context.Context, args []any, _ map[string]any) (any, error) {
					return n + args[0].(int64), nil
				}), nil
			},
			"callback": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				// Go calling back into Python while Python waits for Go.
				obj := args[0].(*PyObject)
				defer obj.Release()
				return obj.CallMethod(ctx, "upper")
			},
		},
		Async: map[string]Func{
			"sleep": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				time.Sleep(time.Duration(args[0].(float64) * float64(time.Second)))
				return "slept", nil
			},
		},
	}
}

func startWithModules(t *testing.T, mods ...*Module) *Process {
	t.Helper()
	wasm := testWasm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, Config{PythonWasm: wasm, CacheDir: DefaultCacheDir(), WorkDir: t.TempDir(), Stderr: os.Stderr, Modules: mods})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestFFICallsAndErrors(t *testing.T) {
	calls := 0
	p := startWithModules(t, echoModule(&calls))
	reply, rec := execute(t, p, `
import gotest, asyncio, time
from wasipy import HostError, GoProxy
print(gotest.echo((1, 'a', b'\x00\xff', {1: 2}, {3}, 2**100, 1.5, None, True)))
print(gotest.kwargs(a=1, b=[2]))
try:
    gotest.fail()
except HostError as e:
    print('HostError', e)
try:
    gotest.panics()
except HostError as e:
    print('panic caught', 'boom' in str(e))
try:
    gotest.permission()
except PermissionError as e:
    print('PermissionError', e)
with gotest.opaque() as o:
    print(type(o).__name__, isinstance(o, GoProxy))
add3 = gotest.adder(3)
print(add3(4))
add3.destroy()
class Shouter:
    def upper(self):
        return 'SHOUT'
print(gotest.callback(Shouter()))
t = time.monotonic()
r = await asyncio.gather(gotest.sleep(0.3), gotest.sleep(0.3), asyncio.sleep(0.3))
print(r, round(time.monotonic() - t, 1))
`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, strings.Join([]string{
		`(1, 'a', b'\x00\xff', {1: 2}, {3}, 1267650600228229401496703205376, 1.5, None, True)`,
		`{'a': 1, 'b': [2]}`,
		`HostError go says no`,
		`panic caught True`,
		`PermissionError not allowed`,
		`GoProxy True`,
		`7`,
		`SHOUT`,
		`['slept', 'slept', None] 0.3`,
	}, "\n")+"\n", rec.stream("stdout"))
	require.Equal(t, 1, calls)
	require.Equal(t, 0, p.GoHandles(), "every Go handle was released")
	n, err := p.PyHandles(context.Background())
	require.NoError(t, err)
	require.Equal(t, 0, n, "every Python handle was released")
}

func TestPythonErrorsReachGo(t *testing.T) {
	p := startWithModules(t)
	_, err := p.Eval(context.Background(), "1/0")
	var pe *PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ZeroDivisionError", pe.Type)
	require.Equal(t, "division by zero", pe.Message)
	require.Contains(t, pe.Traceback, "ZeroDivisionError")
	v, err := p.Eval(context.Background(), "sum(args)", int64(1), int64(2), int64(3))
	require.NoError(t, err)
	require.Equal(t, int64(6), v)
}

// randomValue makes a value of the convertible kinds, nested up to depth.
func randomValue(r *rand.Rand, depth int) any {
	kinds := 9
	if depth <= 0 {
		kinds = 6
	}
	switch r.Intn(kinds) {
	case 0:
		return nil
	case 1:
		return r.Intn(2) == 0
	case 2:
		switch r.Intn(3) {
		case 0:
			return int64(r.Intn(2000) - 1000)
		case 1:
			return int64(r.Uint64())
		default:
			b := new(big.Int).Lsh(big.NewInt(int64(r.Intn(1000)+1)), uint(64+r.Intn(100)))
			if r.Intn(2) == 0 {
				b.Neg(b)
			}
			return b
		}
	case 3:
		return []float64{r.NormFloat64() * 1e6, 0.5, math.Inf(1), math.Inf(-1), 1e300, -0.25}[r.Intn(6)]
	case 4:
		letters := []rune("abc é😀\n\"\\$")
		s := make([]rune, r.Intn(8))
		for i := range s {
			s[i] = letters[r.Intn(len(letters))]
		}
		return string(s)
	case 5:
		b := make([]byte, r.Intn(6))
		r.Read(b)
		return b
	case 6:
		l := make([]any, r.Intn(4))
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		if r.Intn(2) == 0 {
			return Tuple(l)
		}
		return l
	case 7:
		m := map[string]any{}
		for i := 0; i < r.Intn(4); i++ {
			m[fmt.Sprintf("k%d", r.Intn(100))] = randomValue(r, depth-1)
		}
		return m
	default:
		d := &Dict{}
		seen := map[int64]bool{}
		for i := 0; i < r.Intn(4); i++ {
			k := int64(r.Intn(50))
			if !seen[k] {
				seen[k] = true
				d.Keys, d.Values = append(d.Keys, k), append(d.Values, randomValue(r, depth-1))
			}
		}
		if len(d.Keys) == 0 {
			return Set{int64(1), "x"}
		}
		return d
	}
}

func TestConversionRoundTrips(t *testing.T) {
	p := startWithModules(t)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 150; i++ {
		v := randomValue(r, 3)
		// Go → Python → Go.
		got, err := p.Eval(context.Background(), "args[0]", v)
		require.NoError(t, err)
		require.True(t, equalValues(v, got), "Go → Python → Go changed %#v into %#v", v, got)
		// Python → Go → Python: Python compares its object with what came back.
		same, err := p.Eval(context.Background(), "args[0] == args[1]", v, got)
		require.NoError(t, err)
		require.Equal(t, true, same, "%#v", v)
	}
}

// equalValues compares converted values (sets in order, as they travel).
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case []any:
		y, ok := b.([]any)
		return ok && equalLists(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalLists(x, y)
	case Set:
		y, ok := b.(Set)
		return ok && len(x) == len(y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !equalValues(v, y[k]) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		return ok && equalLists(x.Keys, y.Keys) && equalLists(x.Values, y.Values)
	}
	return a == b
}

func equalLists(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalValues(a[i], b[i]) {
			return false
		}
	}
	return true
}
