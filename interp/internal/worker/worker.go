// Package worker is the interpreter worker process: it runs python.wasm
// under wazero and relays between the guest and the kernel process. It
// builds the guest's world (mounts, channel, clocks, poll_oneoff, the
// memory cap), keeps the garbage collector away from a running guest, and
// applies interrupts. The kernel-process side is package interp.
package worker

import (
	"bufio"
	"context"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasipy/wasipy/interp/internal/channel"
	"github.com/wasipy/wasipy/interp/internal/codecache"
	"github.com/wasipy/wasipy/interp/internal/image"
	"github.com/wasipy/wasipy/interp/internal/interrupt"
	"github.com/wasipy/wasipy/interp/internal/memory"
	"github.com/wasipy/wasipy/interp/internal/pipe"
	"github.com/wasipy/wasipy/interp/internal/wasitime"
	"github.com/wasipy/wasipy/interp/internal/wasmbin"
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

	first := channel.New(func(parts [][]byte) {
		_ = output.MessageParts(pipe.Message, parts) // lent: written before it returns
	}, gc.idle) // the guest waits for the kernel: see release.go
	link := &guestLink{renew: make(chan struct{}, 1)}
	link.cur.Store(first)
	// Every guest of this worker shares first.Wake (see Channel.Next).
	intr := &interrupt.Interrupter{Wake: first.Wake.Fire}
	relay := &interrupt.Relay{Act: func() {
		if !link.cur.Load().InterruptWaiting() {
			// Flags first, then wake a sleep: a woken sleep must
			// find the interrupt already pending.
			intr.Trip()
			first.Wake.Fire()
		}
	}}
	if interrupts != nil {
		go relay.Serve(interrupts)
	}

	go func() {
		// Kernel → guest. When the kernel goes away, so does the worker.
		r := bufio.NewReader(in)
		for {
			kind, payload, err := pipe.ReadFrameInto(r, link.cur.Load().Buffer) // large buffers reused
			if err != nil {
				// The kernel is gone. A guest waiting on the channel ends
				// now; one that is running code is not waited for long.
				link.cur.Load().Close()
				time.AfterFunc(2*time.Second, func() { os.Exit(0) })
				return
			}
			switch kind {
			case pipe.Message:
				// Blocks while the guest does not read the channel; the
				// kernel's accounting (maxHostRequests) bounds what waits.
				if !link.cur.Load().Push(payload) {
					if link.renewing.Load() {
						// For the guest that is ending: dropped, but
						// counted, as the kernel numbers every frame.
						relay.Delivered()
						continue
					}
					return
				}
				relay.Delivered()
			case pipe.Renew:
				// The kernel renews an idle guest: its channel closes, so
				// its serve loop returns and runGuest starts the next.
				link.renewing.Store(true)
				select {
				case link.renew <- struct{}{}:
				default:
				}
				link.cur.Load().Close()
			}
		}
	}()

	err := runGuest(context.Background(), cfg, runtimeFiles, link, output, gc, intr)
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

// guestLink is the worker's current guest channel, which Renew replaces.
type guestLink struct {
	cur      atomic.Pointer[channel.Channel]
	renewing atomic.Bool   // a Renew came: the current guest's end is not the worker's
	renew    chan struct{} // one token per Renew
}

func runGuest(ctx context.Context, cfg Config, runtimeFiles fs.FS, link *guestLink, out *pipe.Output, gc *gcPacer, intr *interrupt.Interrupter) error {
	ch := link.cur.Load()
	started := time.Now()
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
	if err != nil {
		cache.Done()
		return fmt.Errorf("compile python.wasm: %w", err)
	}
	gc.release() // what compiling left is garbage now: see release.go
	quota, err := workerQuota(cfg)
	if err != nil {
		cache.Done()
		return err
	}
	g := &guest{quota: quota,
		cfg: cfg, runtimeFiles: runtimeFiles, ch: ch, out: out, clk: clk,
		r: r, compiled: compiled, entry: entryOf(compiled), pyc: cache.Pycache(),
		phases: StartInfo{CompileMs: ms(time.Since(started))},
	}
	switch {
	case cfg.PrepareImage:
		cache.Done()
		return g.prepareImage(ctx, mod)
	case cfg.PrepareInto != "" || g.entry == commandEntry:
		cache.Done()
		return g.runCommand(ctx)
	}
	// A reactor: from an image when there is a good one. The image is
	// read and checked even when it cannot be used this time (no checked
	// bytecode: the image was taken with it mounted), so that a tampered
	// one is discarded and logged now.
	g.key, g.keyErr = g.imageKey(mod) // "" with the error
	g.layout, g.layoutErr = wasmbin.ReadLayout(mod.Wasm)
	err = g.start(ctx, cache)
	// Renewed: the guest ended because the kernel asked for a fresh one
	// (a restart); it runs in this process, on the module compiled above.
	for link.renewing.Load() && err == nil {
		<-link.renew
		link.renewing.Store(false)
		// No guest runs now: what the last one left on the Go heap goes
		// back to the system, and the fresh guest's first wait releases again.
		gc.release()
		gc.idleBefore = false
		_ = out.Message(pipe.Renewed, nil)
		g.ch = g.ch.Next()
		link.cur.Store(g.ch)
		g.phases = StartInfo{}
		err = g.start(ctx, codecache.Open(cfg.CacheDir, cfg.KeyFile, os.Stderr))
	}
	return err
}

// start runs a guest of a reactor build to its end: from the image
// pickImage reads from cache (which it lets go before the guest runs), or
// from scratch.
func (g *guest) start(ctx context.Context, cache *codecache.Cache) error {
	began := time.Now()
	img, free := g.pickImage(cache)
	cache.Done()
	g.phases.LoadMs = ms(time.Since(began))
	if img != nil {
		return g.restore(ctx, img, free)
	}
	return g.fresh(ctx)
}

// pickImage reads what this start begins from: the snapshot it was asked
// for, else the prepared interpreter's image; nil (and why, in
// g.phases.Image) for a start from scratch. The cache is read and checked
// even when its image cannot be used this time (no checked bytecode: the
// image was taken with it mounted), so that a tampered one is discarded
// and logged now.
func (g *guest) pickImage(cache *codecache.Cache) (*image.Image, func()) {
	img, free := g.chooseImage(cache)
	if img != nil && g.cfg.MemoryLimitPages != 0 && img.MemoryPages > g.cfg.MemoryLimitPages {
		free()
		img, g.phases.Image = nil, "none: the image is larger than --memory-limit"
	}
	if img != nil && img.Snapshot != "" && img.WorkDir != g.cfg.WorkDir {
		fmt.Fprintf(os.Stderr, "wasipy: snapshot %s was taken in %s and starts in %s: paths it remembers may not be here\n", img.Snapshot, img.WorkDir, g.cfg.WorkDir)
	}
	return img, free
}

func (g *guest) chooseImage(cache *codecache.Cache) (*image.Image, func()) {
	var img *image.Image
	var free func()
	switch {
	case g.keyErr != nil:
		g.phases.Image = "none: " + g.keyErr.Error()
	case !g.cfg.UseImage:
		g.phases.Image = "none: not asked to use one"
	default:
		img, free, g.phases.Image = loadImage(cache, g.key)
		if img != nil && g.pyc == nil {
			free()
			img, g.phases.Image = nil, "none: no checked bytecode of the runtime"
		}
	}
	if g.cfg.Snapshot == "" || !g.cfg.UseImage {
		return img, free
	}
	if g.pyc == nil {
		fmt.Fprintln(os.Stderr, "wasipy: starting without snapshot", g.cfg.Snapshot+": no checked bytecode of the runtime")
		return img, free
	}
	snap, snapFree, why := g.loadSnapshot(g.cfg.Snapshot)
	if snap == nil {
		fmt.Fprintln(os.Stderr, "wasipy: starting without the snapshot:", why)
		return img, free
	}
	if img != nil {
		free()
	}
	return snap, snapFree
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
