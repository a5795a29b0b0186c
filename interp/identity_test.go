package interp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Promise: one Go value (the same pointer, map or slice header) is one
// GoProxy in Python while Python holds it: `is`, == and hash agree; other
// values, or the same slice cut another way, are other proxies. Handles
// are counted per sending, so a workload that passes the same value
// thousands of times, with Python collecting proxies in between, never
// meets a released handle and ends with both tables empty.
func TestGoProxyIdentity(t *testing.T) {
	acct := &account{Owner: "ada", Tags: []string{"a", "b", "c"}, Limits: map[string]int{"x": 1}}
	p := startWithModules(t, bridgeModule(acct))
	ctx := context.Background()
	same := func(code string, args ...any) bool {
		t.Helper()
		v, err := p.Eval(ctx, code, args...)
		require.NoError(t, err)
		return v.(bool)
	}
	isSame := "args[0] is args[1] and args[0] == args[1] and hash(args[0]) == hash(args[1]) and len({args[0], args[1]}) == 1"
	require.True(t, same(isSame, acct, acct), "a pointer passed twice")
	require.True(t, same(isSame, ByRef(acct.Limits), ByRef(acct.Limits)), "a map passed twice")
	require.True(t, same(isSame, ByRef(acct.Tags), ByRef(acct.Tags)), "a slice passed twice")
	require.False(t, same("args[0] is args[1] or args[0] == args[1]", acct, &account{Owner: "ada"}), "an equal struct elsewhere")
	require.False(t, same("args[0] is args[1]", ByRef(acct.Tags), ByRef(acct.Tags[:2])), "a shorter slice of the same array")

	// Held across calls: the module's function returns the pointer Python
	// already holds, and the proxy is the one Python has.
	v, err := p.ExecAsync(ctx, "import bridge\n_held = bridge.account()\n_held is bridge.account()")
	require.NoError(t, err)
	require.Equal(t, true, v)
	// And the proxy Go gets back is the Go value itself.
	back, err := p.ExecAsync(ctx, "_held")
	require.NoError(t, err)
	require.Same(t, acct, back)

	// Thousands of sendings of one value, Python dropping its proxy now and then.
	for i := range 2000 {
		code := "args[0].Owner"
		if i%100 == 0 {
			code = "(__import__('gc').collect(), args[0].Owner)[1]"
		}
		v, err := p.Eval(ctx, code, acct)
		require.NoError(t, err)
		require.Equal(t, "ada", v)
	}
	_, err = p.ExecAsync(ctx, "del _held")
	require.NoError(t, err)
	waitHandles(t, p)
}

// Promise (no interpreter): the handle table counts sendings and frees a
// value only when every sending was released; values without identity
// get a handle each.
func TestHandleTableCountsSendings(t *testing.T) {
	var h handleTable
	x := &account{}
	a, b := h.put(x), h.put(x)
	require.Equal(t, a, b)
	h.release(a, 1)
	got, ok := h.get(a)
	require.True(t, ok, "one sending is still out")
	require.Same(t, x, got)
	h.release(a, 1)
	_, ok = h.get(a)
	require.False(t, ok)
	require.NotEqual(t, a, h.put(x), "a released value gets a new handle")

	// By value, a func, a zero-size pointer: no identity to go by.
	require.NotEqual(t, h.put(account{}), h.put(account{}))
	f := func() {}
	require.NotEqual(t, h.put(f), h.put(f))
	type empty struct{}
	e := &empty{}
	require.NotEqual(t, h.put(e), h.put(e))
	// A release that counts nonsense still releases, once.
	id := h.put(&account{})
	h.release(id, -5)
	_, ok = h.get(id)
	require.False(t, ok)
}
