package interp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Promise: EvalAsync with the context of a Go function that Python waits
// for (a blocking Func) fails at once with ErrBlockingCall instead of
// hanging until its deadline; from an awaitable Func (Module.Async) the
// same call runs and returns its value.
func TestEvalAsyncInsideABlockingCallFailsFast(t *testing.T) {
	var p *Process
	took := make(chan time.Duration, 2)
	try := func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		start := time.Now()
		v, err := p.EvalAsync(ctx, "(await __import__('asyncio').sleep(0, 41)) + 1")
		took <- time.Since(start)
		if errors.Is(err, ErrBlockingCall) {
			return "refused", nil
		}
		return v, err
	}
	p = startWithModules(t, &Module{Name: "nest",
		Funcs: map[string]Func{"blocking": try},
		Async: map[string]Func{"awaitable": try}})
	reply, rec := execute(t, p, "import nest\nprint(nest.blocking())\nprint(await nest.awaitable())")
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "refused\n42\n", rec.stream("stdout"))
	require.Less(t, <-took, time.Second, "the blocking call was refused at once")
}
