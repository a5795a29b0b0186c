package interp

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

type fetchOptions struct {
	Timeout  int
	MaxDepth int `json:"depth"`
	Verbose  bool
}

func fetchLike(ctx context.Context, url string, o *fetchOptions) string {
	if o == nil {
		return url + " defaults"
	}
	return fmt.Sprintf("%s timeout=%d depth=%d verbose=%v", url, o.Timeout, o.MaxDepth, o.Verbose)
}

// Promise: keyword arguments reach a Go function called by reflection
// where Go can know them: a trailing options struct (by field name,
// json tag or snake_case) and names given with Params. Anything else, and
// a keyword that collides with a positional argument, is a TypeError.
func TestReflectFuncKeywords(t *testing.T) {
	ctx := context.Background()
	fetch, ok := asReflectFunc(fetchLike)
	require.True(t, ok)
	got, err := fetch(ctx, []any{"u"}, map[string]any{"timeout": int64(5), "depth": int64(2), "Verbose": true})
	require.NoError(t, err)
	require.Equal(t, "u timeout=5 depth=2 verbose=true", got)
	got, err = fetch(ctx, []any{"u"}, map[string]any{"max_depth": int64(3)})
	require.NoError(t, err)
	require.Equal(t, "u timeout=0 depth=3 verbose=false", got)
	got, err = fetch(ctx, []any{"u", map[string]any{"timeout": int64(1)}}, nil)
	require.NoError(t, err)
	require.Equal(t, "u timeout=1 depth=0 verbose=false", got, "options positionally, as a dict")

	typeErr := func(err error, text string) {
		t.Helper()
		var ge *GuestError
		require.ErrorAs(t, err, &ge)
		require.Equal(t, "TypeError", ge.Type)
		require.Contains(t, ge.Message, text)
	}
	_, err = fetch(ctx, []any{"u"}, map[string]any{"retries": int64(1)})
	typeErr(err, `"retries"`)
	_, err = fetch(ctx, []any{"u", map[string]any{}}, map[string]any{"timeout": int64(1)})
	typeErr(err, "both positionally and as keywords")

	sub, ok := asReflectFunc(Params(func(a, b int64) int64 { return a - b }, "a", "b"))
	require.True(t, ok)
	got, err = sub(ctx, nil, map[string]any{"b": int64(1), "a": int64(5)})
	require.NoError(t, err)
	require.Equal(t, int64(4), got)
	got, err = sub(ctx, []any{int64(9)}, map[string]any{"b": int64(2)})
	require.NoError(t, err)
	require.Equal(t, int64(7), got)
	_, err = sub(ctx, []any{int64(9)}, map[string]any{"a": int64(2)})
	typeErr(err, `multiple values for argument "a"`)
	_, err = sub(ctx, nil, map[string]any{"b": int64(2)})
	typeErr(err, `missing argument "a"`)
	plain, _ := asReflectFunc(func(a, b int64) int64 { return a - b })
	_, err = plain(ctx, nil, map[string]any{"a": int64(1)})
	typeErr(err, "interp.Params")
}

// Promise: the same, from Python: a GoProxy of a Go function takes
// keyword arguments, and a wrong one raises TypeError in Python.
func TestKeywordsFromPython(t *testing.T) {
	p := startWithModules(t)
	ctx := context.Background()
	v, err := p.Eval(ctx, "args[0]('u', timeout=5, max_depth=2)", fetchLike)
	require.NoError(t, err)
	require.Equal(t, "u timeout=5 depth=2 verbose=false", v)
	v, err = p.Eval(ctx, "args[0](b=1, a=5)", Params(func(a, b int64) int64 { return a - b }, "a", "b"))
	require.NoError(t, err)
	require.Equal(t, int64(4), v)
	v, err = p.Eval(ctx, "(lambda f: (lambda: f('u', retries=1)))(args[0])", fetchLike)
	require.NoError(t, err)
	_, err = p.Eval(ctx, "args[0]()", v)
	var pe *PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "TypeError", pe.Type)
	v.(*PyObject).Release()
	waitHandles(t, p)
}
