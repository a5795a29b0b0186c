// Package worker is the interpreter worker process: it runs python.wasm
// under wazero and relays between the guest and the kernel process. It
// builds the guest's world (mounts, channel, clocks, poll_oneoff, the
// memory cap), keeps the garbage collector away from a running guest, and
// applies interrupts. The kernel-process side is package interp.
package worker

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

	"github.com/wasipy/wasipy/interp/internal/channel"
	"github.com/wasipy/wasipy/interp/internal/codecache"
	"github.com/wasipy/wasipy/interp/internal/interrupt"
	"github.com/wasipy/wasipy/interp/internal/memory"
	"github.com/wasipy/wasipy/interp/internal/pipe"
	"github.com/wasipy/wasipy/interp/internal/wasitime"
)

// RuntimeGuestDir is where the embedded Python-side runtime is mounted,
// read-only.
const RuntimeGuestDir = "/.wasipy/runtime"

// bootstrap is the guest's first statement: it puts the runtime on sys.path
// and hands control to its main loop, which serves the channel.
const bootstrap = "import sys; sys.path.insert(0, '" + RuntimeGuestDir + "'); import _wasipy_kernel; _wasipy_kernel.main()"

// Run is the body of the interpreter worker process: it runs
// python.wasm under wazero and relays between the guest and the kernel
// process over in (kernel → worker) and out (worker → kernel). runtimeFiles
// is the Python-side runtime, mounted at RuntimeGuestDir. Interrupts
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
func Run(cfg Config, runtimeFiles fs.FS, in, interrupts io.Reader, out io.Writer) error {
	debug.SetGCPercent(-1)
	gc := &gcPacer{}

	output := pipe.NewOutput(out)
	output.Collect = gc.maybeCollect // channel writes allocate: see pipe.Output.Collect
	defer output.Close()

	ch := channel.New(func(parts [][]byte) {
		_ = output.MessageParts(pipe.Message, parts) // lent: written before it returns
	}, gc.idle) // the guest waits for the kernel: see release.go
	intr := &interrupt.Interrupter{Wake: ch.Wake.Fire}
	relay := &interrupt.Relay{Act: func() {
		if !ch.InterruptWaiting() {
			// Flags first, then wake a sleep: a woken sleep must
			// find the interrupt already pending.
			intr.Trip()
			ch.Wake.Fire()
		}
	}}
	if interrupts != nil {
		go relay.Serve(interrupts)
	}

	go func() {
		// Kernel → guest. When the kernel goes away, so does the worker.
		r := bufio.NewReader(in)
		for {
			kind, payload, err := pipe.ReadFrameInto(r, ch.Buffer) // large buffers reused
			if err != nil {
				// The kernel is gone. A guest waiting on the channel ends
				// now; one that is running code is not waited for long.
				ch.Close()
				time.AfterFunc(2*time.Second, func() { os.Exit(0) })
				return
			}
			if kind == pipe.Message {
				// Blocks while the guest does not read the channel; the
				// kernel's accounting (maxHostRequests) bounds what waits.
				if !ch.Push(payload) {
					return
				}
				relay.Delivered()
			}
		}
	}()

	err := runGuest(context.Background(), cfg, runtimeFiles, ch, output, gc, intr)
	info := pipe.ExitInfo{}
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
	_ = output.Message(pipe.Exit, b)
	return err
}

func runGuest(ctx context.Context, cfg Config, runtimeFiles fs.FS, ch *channel.Channel, out *pipe.Output, gc *gcPacer, intr *interrupt.Interrupter) error {
	// The code cache is checked before anything of it is used, and let go
	// (Done) once python.wasm is compiled, before any guest code runs.
	cache := codecache.Open(cfg.CacheDir, cfg.KeyFile, os.Stderr)
	defer cache.Done()
	if cache.Usable() && cfg.PrepareInto == "" {
		// Unless this worker is the one that compiles it.
		cache.LoadPycache(cfg.PycacheDir)
	}
	mod, err := codecache.LoadModule(cfg.PythonWasm, cache)
	if err != nil {
		return err
	}
	if memory.Available {
		mem := &memory.Fixed{}
		ctx = experimental.WithMemoryAllocator(ctx, mem)
		if mod.Targets != nil {
			intr.Targets, intr.Mem = mod.Targets, mem.Bytes
		} else {
			fmt.Fprintln(os.Stderr, "wasipy: running code cannot be interrupted:", mod.TargetErr)
		}
	}
	// The memory cap (wazero hands its byte size to memory.Fixed's Allocate
	// as the maximum, so the reservation is no larger either).
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCompilationCache(cache.CompilationCache())
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(ctx)

	clk := &wasitime.Clocks{Start: time.Now()}
	poll := &wasitime.PollOneoff{Clocks: clk, Wake: ch.Wake, Block: gc.maybeCollect}
	wasi := r.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	wasi.NewFunctionBuilder().WithFunc(poll.Call).Export("poll_oneoff")
	if _, err := wasi.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}

	compiled, err := r.CompileModule(ctx, mod.Wasm)
	cache.Done()
	if err != nil {
		return fmt.Errorf("compile python.wasm: %w", err)
	}
	gc.release() // what compiling left is garbage now: see release.go

	fsc := wazero.NewFSConfig().WithFSMount(runtimeFiles, RuntimeGuestDir)
	fsc = fsc.(sysfs.FSConfig).WithSysFSMount(ch.FS(), channel.GuestDir)
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
		fsc = fsc.WithDirMount(cfg.PrepareInto, PycacheGuestDir)
		args = []string{"python", "-s", "-c", compileScript}
		delete(env, "PYTHONDONTWRITEBYTECODE")
	} else if pyc := cache.Pycache(); pyc != nil {
		fsc = fsc.WithFSMount(pyc, PycacheGuestDir) // checked, in memory
	} else {
		delete(env, "PYTHONPYCACHEPREFIX")
	}
	mc := wazero.NewModuleConfig().
		WithName("python").
		WithArgs(args...).
		WithStdin(bytes.NewReader(nil)).
		WithStdout(out.Writer(pipe.Stdout)).
		WithStderr(out.Writer(pipe.Stderr)).
		WithWalltime(clk.Walltime, sys.ClockResolution(time.Microsecond)).
		WithNanotime(clk.Nanotime, sys.ClockResolution(1)).
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
		"PYTHONPYCACHEPREFIX":     PycacheGuestDir, // the runtime's bytecode, read-only
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
	// Returning free memory (release.go).
	lastRelease uint64 // heap allocs at the last release
	idleBefore  bool   // the guest has been idle once
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

// Main runs the worker when the current process was started as one (EnvVar
// is set), and exits; it returns false otherwise.
func Main(runtimeFiles fs.FS) bool {
	raw, ok := os.LookupEnv(EnvVar)
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
	if err := Run(cfg, runtimeFiles, os.Stdin, os.NewFile(InterruptFD, "interrupts"), os.Stdout); err != nil {
		var exitErr *sys.ExitError
		if !errors.As(err, &exitErr) {
			fmt.Fprintln(os.Stderr, "wasipy interpreter worker:", err)
		}
	}
	os.Exit(0)
	return true
}
