package interp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// runtimeGuestDir is where the embedded Python-side runtime is mounted,
// read-only.
const runtimeGuestDir = "/.wasipy/runtime"

// bootstrap is the guest's first statement: it puts the runtime on sys.path
// and hands control to its main loop, which serves the channel.
const bootstrap = "import sys; sys.path.insert(0, '" + runtimeGuestDir + "'); import _wasipy_kernel; _wasipy_kernel.main()"

// exitInfo tells the kernel how the guest ended.
type exitInfo struct {
	Code  uint32 `json:"code"`
	Error string `json:"error,omitempty"`
}

// RunWorker is the body of the interpreter worker process: it runs
// python.wasm under wazero and relays between the guest and the kernel
// process over in (kernel → worker) and out (worker → kernel). Interrupts
// come on interrupts (nil: none), a path of their own that a backed-up in
// cannot delay.
//
// The interpreter lives in its own process because wazero's compiled code
// cannot be preempted: a guest spinning in `while True: pass` would stall
// every goroutine of its process as soon as the garbage collector stops
// the world (docs/RATIONALE.md, section 1). Here that can only stall this process,
// and the collector is kept away from a running guest: automatic
// collection is off, and garbage is collected only while the guest waits
// in a host call.
func RunWorker(cfg Config, in, interrupts io.Reader, out io.Writer) error {
	debug.SetGCPercent(-1)
	gc := &gcPacer{}

	pipe := newOutputPipe(out)
	pipe.collect = gc.maybeCollect // channel writes allocate: see outputPipe.collect
	defer pipe.close()

	ch := newChannel(func(payload []byte) {
		_ = pipe.message(frameMessage, payload)
	}, gc.maybeCollect)
	intr := &interrupter{wake: func() { ch.wake.fire() }}
	relay := &interruptRelay{act: func() {
		if !ch.interruptWaiting() {
			// Flags first, then wake a sleep: a woken sleep must
			// find the interrupt already pending.
			intr.trip()
			ch.wake.fire()
		}
	}}
	if interrupts != nil {
		go relay.serve(interrupts)
	}

	go func() {
		// Kernel → guest. When the kernel goes away, so does the worker.
		r := bufio.NewReader(in)
		for {
			kind, payload, err := readFrame(r)
			if err != nil {
				// The kernel is gone. A guest waiting on the channel ends
				// now; one that is running code is not waited for long.
				ch.close()
				time.AfterFunc(2*time.Second, func() { os.Exit(0) })
				return
			}
			if kind == frameMessage {
				// Blocks while the guest does not read the channel; the
				// kernel's accounting (maxHostRequests) bounds what waits.
				if !ch.push(payload) {
					return
				}
				relay.delivered()
			}
		}
	}()

	err := runGuest(context.Background(), cfg, ch, pipe, gc, intr)
	info := exitInfo{}
	var exitErr *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		info.Code = exitErr.ExitCode()
	default:
		info.Code = 1
		info.Error = err.Error()
	}
	b, _ := json.Marshal(info)
	_ = pipe.message(frameExit, b)
	return err
}

func runGuest(ctx context.Context, cfg Config, ch *channel, pipe *outputPipe, gc *gcPacer, intr *interrupter) error {
	// The code cache is checked before anything of it is used, and let go
	// (done) once python.wasm is compiled, before any guest code runs.
	cache := openTrustedCache(cfg)
	defer cache.done()
	mod, err := loadModule(cfg.PythonWasm, cache)
	if err != nil {
		return err
	}
	if haveFixedMemory {
		mem := &fixedMemory{}
		ctx = experimental.WithMemoryAllocator(ctx, mem)
		if mod.targets != nil {
			intr.targets, intr.mem = mod.targets, mem.bytes
		} else {
			fmt.Fprintln(os.Stderr, "wasipy: running code cannot be interrupted:", mod.targetErr)
		}
	}
	// The memory cap (wazero hands its byte size to fixedMemory.Allocate as
	// the maximum, so the reservation is no larger either).
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(memoryLimitPages(cfg.MemoryLimit)).
		WithCompilationCache(cache.compilationCache())
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(ctx)

	clk := &clocks{start: time.Now()}
	poll := &pollOneoff{clocks: clk, wake: ch.wake, block: gc.maybeCollect}
	wasi := r.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	wasi.NewFunctionBuilder().WithFunc(poll.call).Export("poll_oneoff")
	if _, err := wasi.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}

	compiled, err := r.CompileModule(ctx, mod.wasm)
	cache.done()
	if err != nil {
		return fmt.Errorf("compile python.wasm: %w", err)
	}

	runtimeFS, err := fs.Sub(runtimeFiles, "runtime")
	if err != nil {
		return err
	}
	fsc := wazero.NewFSConfig().WithFSMount(runtimeFS, runtimeGuestDir)
	fsc = fsc.(sysfs.FSConfig).WithSysFSMount(&channelFS{ch: ch}, channelGuestDir)
	fsc, err = mountHostFolders(fsc, cfg)
	if err != nil {
		return err
	}
	if fsc, err = mountStdlib(fsc, cfg); err != nil {
		return err
	}

	args := []string{"python", "-u", "-s", "-c", bootstrap}
	env := guestEnv(cfg)
	if cfg.PrepareInto != "" {
		fsc = fsc.WithDirMount(cfg.PrepareInto, pycacheGuestDir)
		args = []string{"python", "-s", "-c", compileScript}
		delete(env, "PYTHONDONTWRITEBYTECODE")
	} else if pyc := cache.pycache(); pyc != nil {
		fsc = fsc.WithFSMount(pyc, pycacheGuestDir) // checked, in memory
	} else {
		delete(env, "PYTHONPYCACHEPREFIX")
	}
	mc := wazero.NewModuleConfig().
		WithName("python").
		WithArgs(args...).
		WithStdin(bytes.NewReader(nil)).
		WithStdout(streamWriter{pipe, frameStdout}).
		WithStderr(streamWriter{pipe, frameStderr}).
		WithWalltime(clk.walltime, sys.ClockResolution(time.Microsecond)).
		WithNanotime(clk.nanotime, sys.ClockResolution(1)).
		WithNanosleep(func(ns int64) { time.Sleep(time.Duration(ns)) }).
		WithRandSource(rand.Reader).
		WithFSConfig(fsc)
	for k, v := range env {
		mc = mc.WithEnv(k, v)
	}
	_, err = r.InstantiateModule(ctx, compiled, mc)
	return err
}

// guestEnv is the whole environment the guest sees: a documented few
// variables, never the host's (README, "Sandbox").
func guestEnv(cfg Config) map[string]string {
	env := map[string]string{
		"LANG":                    "C.UTF-8",
		"PYTHONUNBUFFERED":        "1",
		"PYTHONDONTWRITEBYTECODE": "1",             // never litter the user's folder with __pycache__
		"PYTHONPYCACHEPREFIX":     pycacheGuestDir, // the runtime's bytecode, read-only (pycache.go)
		"HOME":                    cfg.WorkDir,
		"WASIPY_WORKDIR":          cfg.WorkDir,
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	if len(cfg.ImportPaths) > 0 {
		env["WASIPY_PATH"] = strings.Join(cfg.ImportPaths, ":")
	}
	return env
}

// gcPacer runs the garbage collector by hand, only from host calls in which
// the guest is parked, once enough has been allocated since the last run.
type gcPacer struct {
	lastAlloc uint64
}

const gcEvery = 64 << 20

var gcSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func (g *gcPacer) maybeCollect() {
	metrics.Read(gcSample)
	if gcSample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	allocs := gcSample[0].Value.Uint64()
	if allocs-g.lastAlloc < gcEvery {
		return
	}
	runtime.GC()
	g.lastAlloc = allocs
}

// WorkerMain runs the worker when the current process was started as one
// (see Start); it returns false otherwise. Call it first thing in main, and
// in TestMain of packages whose tests start interpreters.
func WorkerMain() bool {
	raw, ok := os.LookupEnv(workerEnv)
	if !ok {
		return false
	}
	// Interrupts come from the kernel as frames; a Ctrl-C sent to the
	// process group (a terminal, jupyter console) must not kill the worker.
	signal.Ignore(syscall.SIGINT)
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "wasipy interpreter worker: bad configuration:", err)
		os.Exit(2)
	}
	if err := RunWorker(cfg, os.Stdin, os.NewFile(interruptFD, "interrupts"), os.Stdout); err != nil {
		var exitErr *sys.ExitError
		if !errors.As(err, &exitErr) {
			fmt.Fprintln(os.Stderr, "wasipy interpreter worker:", err)
		}
	}
	os.Exit(0)
	return true
}
