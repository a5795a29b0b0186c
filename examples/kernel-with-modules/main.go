// Command kernel-with-modules is the stock wasipy kernel plus a Python
// module written in Go ("clock"): the way to give notebooks Go code.
// Build it and install its kernelspec like the stock kernel's:
//
//	go build -o wasipy-clock-kernel ./examples/kernel-with-modules
//	./wasipy-clock-kernel kernelspec --install --name wasipy-clock --display-name "Python (wasipy + clock)"
//
// In a notebook of that kernel:
//
//	import clock
//	clock.now()                       # the host's time, from Go
//	clock.timed(fn)                   # (fn(), seconds), timed by Go
//	clock.every(0.1, 3, on_tick)      # a Go goroutine calls on_tick three times,
//	await ticks_done                  # reaching the cell while it awaits
package main

import (
	"context"
	"time"

	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/kernelcmd"
)

func main() {
	kernelcmd.Main(kernelcmd.Options{Modules: []*interp.Module{clockModule()}})
}

// clockModule gives Python the host's clock and a Go ticker that calls
// back into Python from a goroutine of its own.
func clockModule() *interp.Module {
	return &interp.Module{
		Name:   "clock",
		Errors: map[string]string{"ClockError": "ValueError"},
		Funcs: map[string]interp.Func{
			"now": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				return time.Now().UTC().Format(time.RFC3339), nil
			},
			// timed(fn): call fn() from Go; (its result, seconds it took).
			// An exception fn raises passes through Go unchanged.
			"timed": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				fn, ok := firstArg(args).(*interp.PyObject)
				if !ok {
					return nil, &interp.GuestError{Type: "TypeError", Message: "timed(fn) wants a callable"}
				}
				start := time.Now()
				v, err := fn.Call(ctx, nil, nil)
				if err != nil {
					return nil, err
				}
				return interp.Tuple{v, time.Since(start).Seconds()}, nil
			},
			// every(seconds, times, callback): call callback(i) from Go
			// every `seconds`, `times` times, without blocking the caller.
			"every": func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
				if len(args) != 3 {
					return nil, &interp.GuestError{Type: "TypeError", Message: "every(seconds, times, callback)"}
				}
				seconds, ok1 := args[0].(float64)
				times, ok2 := args[1].(int64)
				callback, ok3 := args[2].(*interp.PyObject)
				if !ok1 || !ok2 || !ok3 || seconds <= 0 || times < 0 || times > 1000 {
					return nil, &interp.GuestError{Type: "clock.ClockError", Message: "every wants a positive float, a count up to 1000 and a callable"}
				}
				go func() {
					defer callback.Release()
					tick := time.NewTicker(time.Duration(seconds * float64(time.Second)))
					defer tick.Stop()
					for i := int64(0); i < times; i++ {
						<-tick.C
						// Served at the cell's next await point if one runs.
						call, cancel := context.WithTimeout(context.Background(), time.Minute)
						_, err := callback.Call(call, []any{i}, nil)
						cancel()
						if err != nil {
							return
						}
					}
				}()
				return nil, nil
			},
		},
	}
}

func firstArg(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}
