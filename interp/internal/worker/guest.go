package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasipy/wasipy/interp/internal/channel"
	"github.com/wasipy/wasipy/interp/internal/codecache"
	"github.com/wasipy/wasipy/interp/internal/image"
	"github.com/wasipy/wasipy/interp/internal/pipe"
	"github.com/wasipy/wasipy/interp/internal/wasitime"
	"github.com/wasipy/wasipy/interp/internal/wasmbin"
	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// How a python.wasm is entered.
type entryKind int

const (
	// commandEntry: a WASI command (_start runs `python ARGS` to the end),
	// like the npm build. No image can be taken of it.
	commandEntry entryKind = iota
	// reactorEntry: wasipy's own build (build/python/wasipy_entry.c):
	// _initialize, wasipy_init, then wasipy_serve, with an empty call
	// stack in between.
	reactorEntry
)

// The modes of wasipy_serve (wasipy_entry.c, _wasipy_kernel.serve), and
// its result asking for an image.
const (
	serveFresh     = 0
	serveRestored  = 1
	serveContinue  = 2
	serveTakeImage = 2
)

// snapshotName is what a named snapshot may be called (also checked by the
// runtime, which is not trusted for it).
var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// maxSnapshots bounds the snapshot folder, whatever the quotas say.
const maxSnapshots = 64

// countSnapshots is how many snapshots dir holds.
func countSnapshots(dir string) int {
	found, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.img"))
	return len(found)
}

// SnapshotFile is the file name of the snapshot called name.
func SnapshotFile(name string) string { return "snapshot-" + name + ".img" }

func entryOf(m wazero.CompiledModule) entryKind {
	ex := m.ExportedFunctions()
	for _, name := range []string{"_initialize", "wasipy_init", "wasipy_serve", "wasipy_main"} {
		if ex[name] == nil {
			return commandEntry
		}
	}
	return reactorEntry
}

// StartInfo is what the worker tells the kernel process about a start
// (pipe.Started), for its log and the benchmarks: how the interpreter
// started and how long each phase took.
type StartInfo struct {
	// Image is "restored" (or "restored snapshot NAME") for a start from
	// an image, else "none: WHY".
	Image     string  `json:"image"`
	CompileMs float64 `json:"compile_ms"`           // reading and compiling python.wasm
	LoadMs    float64 `json:"load_ms,omitempty"`    // reading and checking the image
	RestoreMs float64 `json:"restore_ms,omitempty"` // instantiating and writing the image into memory
	InitMs    float64 `json:"init_ms,omitempty"`    // CPython's init and the runtime's prepare (a start without an image)
	// ImageMissing says a start from scratch could have used an image
	// that is not there (or no longer good): the kernel process builds
	// one in the background for later starts.
	ImageMissing bool `json:"image_missing,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// guest starts the worker's interpreters once python.wasm is compiled:
// the first, and each one a Renew asks for after it.
type guest struct {
	cfg          Config
	runtimeFiles fs.FS
	ch           *channel.Channel
	out          *pipe.Output
	clk          *wasitime.Clocks
	r            wazero.Runtime
	compiled     wazero.CompiledModule
	entry        entryKind
	pyc          fs.FS // the runtime's bytecode, checked (nil: none)
	phases       StartInfo
	quota        *sandboxfs.Quota // the session's disk quota, opened once (workerQuota)
	layout       wasmbin.Layout   // of python.wasm, for snapshots (not its bytes: they are let go after compiling)
	layoutErr    error
	key          string // of this interpreter's images; "" when it has none
	keyErr       error  // why key is ""
	fences       map[string]experimentalsys.FS
}

// sandboxFS is sandboxfs.New, once per folder and access for the worker's
// life: a mount pins a descriptor of its folder for as long as it exists,
// and a worker's guests (renewed ones too) share the same folders.
func (g *guest) sandboxFS(dir string, o sandboxfs.Options) (experimentalsys.FS, error) {
	key := fmt.Sprintf("%t\x00%s", o.ReadOnly, dir)
	if m, ok := g.fences[key]; ok {
		return m, nil
	}
	m, err := sandboxfs.New(dir, o)
	if err != nil {
		return nil, err
	}
	if g.fences == nil {
		g.fences = map[string]experimentalsys.FS{}
	}
	g.fences[key] = m
	return m, nil
}

// fixedMounts are the mounts every instance has, in this order, before any
// of the session's: an image's preopened directories (wasi-libc keeps a
// table of them in memory) are these, at the same descriptors, in every
// kernel started from it. It returns the FS config and how many there are.
func (g *guest) fixedMounts() (wazero.FSConfig, int, error) {
	fsc := wazero.NewFSConfig().WithFSMount(g.runtimeFiles, RuntimeGuestDir)
	fsc = fsc.(sysfs.FSConfig).WithSysFSMount(g.ch.FS(), channel.GuestDir)
	n := 2
	if stdlibDir(g.cfg.PythonWasm) != "" {
		var err error
		if fsc, err = mountStdlib(fsc, g.cfg, g.sandboxFS); err != nil {
			return nil, 0, err
		}
		n++
	}
	if g.cfg.PrepareInto != "" {
		fsc = fsc.WithDirMount(g.cfg.PrepareInto, PycacheGuestDir)
		n++
	} else if g.pyc != nil {
		fsc = fsc.WithFSMount(g.pyc, PycacheGuestDir) // checked, in memory
		n++
	}
	return fsc, n, nil
}

// sessionConfig is the module config of a session's instance: every
// mount, the session's environment, its streams and clocks.
func (g *guest) sessionConfig() (wazero.ModuleConfig, int, error) {
	fsc, fixed, err := g.fixedMounts()
	if err != nil {
		return nil, 0, err
	}
	if fsc, err = mountHostFolders(fsc, g.cfg, g.quota, g.sandboxFS); err != nil {
		return nil, 0, err
	}
	env := guestEnv(g.cfg)
	if g.cfg.PrepareInto != "" {
		delete(env, "PYTHONDONTWRITEBYTECODE")
	} else if g.pyc == nil {
		delete(env, "PYTHONPYCACHEPREFIX")
	}
	return g.moduleConfig(fsc, env), 3 + fixed, nil
}

func (g *guest) moduleConfig(fsc wazero.FSConfig, env map[string]string) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().
		WithName("python").
		WithStdin(bytes.NewReader(nil)).
		WithStdout(g.out.Writer(pipe.Stdout)).
		WithStderr(g.out.Writer(pipe.Stderr)).
		WithWalltime(g.clk.Walltime, sys.ClockResolution(time.Microsecond)).
		WithNanotime(g.clk.Nanotime, sys.ClockResolution(1)).
		WithNanosleep(func(ns int64) { time.Sleep(time.Duration(ns)) }).
		WithRandSource(rand.Reader).
		WithFSConfig(fsc)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same order every time: it is in the image
	for _, k := range keys {
		mc = mc.WithEnv(k, env[k])
	}
	return mc
}

// runCommand runs `python ARGS` to its end: the session of a command
// build (python -c bootstrap), or a task such as compiling the runtime.
func (g *guest) runCommand(ctx context.Context) error {
	mc, _, err := g.sessionConfig()
	if err != nil {
		return err
	}
	args := []string{"python", "-u", "-s", "-c", bootstrap}
	if g.cfg.PrepareInto != "" {
		args = []string{"python", "-s", "-c", compileScript}
	}
	mc = mc.WithArgs(args...)
	if g.entry == commandEntry {
		_, err = g.r.InstantiateModule(ctx, g.compiled, mc)
		return err
	}
	mod, err := g.r.InstantiateModule(ctx, g.compiled, mc.WithStartFunctions("_initialize"))
	if err != nil {
		return err
	}
	return exitCode(call(ctx, mod, "wasipy_main"))
}

// fresh starts a reactor from scratch: CPython's init and the runtime's
// prepare in this session's instance, then its serve.
func (g *guest) fresh(ctx context.Context) error {
	began := time.Now()
	mc, _, err := g.sessionConfig()
	if err != nil {
		return err
	}
	mod, err := g.r.InstantiateModule(ctx, g.compiled, mc.WithArgs("python").WithStartFunctions("_initialize"))
	if err != nil {
		return err
	}
	defer mod.Close(ctx) // its memory goes with it, before a renewed guest's
	if err := exitCode(call(ctx, mod, "wasipy_init")); err != nil {
		return err
	}
	g.phases.InitMs = ms(time.Since(began))
	g.tell()
	return g.serve(ctx, mod, serveFresh, 0)
}

// serve runs the session; when it asks for an image of itself (%snapshot
// save), the worker takes it between two of its requests and lets it
// continue.
func (g *guest) serve(ctx context.Context, mod api.Module, mode int, fd uint64) error {
	code, err := call(ctx, mod, "wasipy_serve", uint64(mode), fd)
	for err == nil && code == serveTakeImage {
		res := g.saveSnapshot(mod, g.ch.ImageRequest())
		b, _ := json.Marshal(res)
		g.ch.SetImageResult(b)
		code, err = call(ctx, mod, "wasipy_serve", serveContinue, 0)
	}
	return exitCode(code, err)
}

// snapshotResult is what the guest is told of the snapshot it asked for.
type snapshotResult struct {
	Name   string `json:"name"`
	Stored int    `json:"stored,omitempty"`
	Error  string `json:"error,omitempty"`
}

// saveSnapshot takes an image of the running session (its call stack is
// empty: it returned from wasipy_serve to ask) and keeps it under name in
// the snapshot folder, sealed like the code cache.
func (g *guest) saveSnapshot(mod api.Module, name string) snapshotResult {
	res := snapshotResult{Name: name}
	fail := func(format string, args ...any) snapshotResult {
		res.Error = fmt.Sprintf(format, args...)
		fmt.Fprintln(os.Stderr, "wasipy: snapshot not saved:", res.Error)
		return res
	}
	if !snapshotName.MatchString(name) {
		res.Name = ""
		return fail("not a snapshot name: %.80q", name)
	}
	if g.cfg.SnapshotDir == "" {
		return fail("this kernel has no folder for snapshots")
	}
	if g.key == "" {
		return fail("this interpreter cannot be imaged: %s", g.keyErr)
	}
	if g.layoutErr != nil {
		return fail("%v", g.layoutErr)
	}
	layout := g.layout
	m := mod.Memory()
	buf, _ := m.Read(0, m.Size())
	img, err := image.Take(buf, layout, image.Header{Key: g.key, MonotonicNs: g.clk.Nanotime(), Snapshot: name, WorkDir: g.cfg.WorkDir})
	if err != nil {
		return fail("%v", err)
	}
	if n := countSnapshots(g.cfg.SnapshotDir); n >= maxSnapshots {
		return fail("there are %d snapshots already (at most %d): delete some from %s", n, maxSnapshots, g.cfg.SnapshotDir)
	}
	data := img.Encode()
	// What a session writes outside its folder counts against its disk
	// quota like what it writes inside: a loop of snapshots cannot fill
	// the host's disk.
	if !g.quota.Charge(int64(len(data)), 1) {
		return fail("the session's disk quota (--disk-quota) has no room for %.1f MiB more", float64(len(data))/(1<<20))
	}
	store := codecache.Open(g.cfg.SnapshotDir, g.cfg.KeyFile, os.Stderr)
	defer store.Done()
	if !store.Usable() {
		return fail("the snapshot folder %s cannot be used (see the kernel's log)", g.cfg.SnapshotDir)
	}
	if err := store.WriteImage(SnapshotFile(name), data); err != nil {
		return fail("%v", err)
	}
	res.Stored = img.Stored()
	return res
}

// restore starts a session from an image: a new instance, no constructor
// run, the image written into its memory, then serve in restored mode,
// which re-establishes what differs between kernels (environment,
// working directory, mounts, random state, the channel).
func (g *guest) restore(ctx context.Context, img *image.Image, free func()) error {
	defer free()
	began := time.Now()
	mc, firstSessionFD, err := g.sessionConfig()
	if err != nil {
		return err
	}
	mod, err := g.r.InstantiateModule(ctx, g.compiled, mc.WithArgs("python").WithStartFunctions())
	if err != nil {
		return err
	}
	defer mod.Close(ctx) // its memory goes with it, before a renewed guest's
	m := mod.Memory()
	if m == nil {
		return errors.New("python.wasm exports no memory")
	}
	if have := m.Size() / 65536; have < img.MemoryPages {
		if _, ok := m.Grow(img.MemoryPages - have); !ok {
			return fmt.Errorf("the image needs %d MiB of memory, more than --memory-limit allows", uint64(img.MemoryPages)*65536>>20)
		}
	}
	buf, ok := m.Read(0, m.Size())
	if !ok {
		return errors.New("cannot reach the guest's memory")
	}
	if err := img.Restore(buf); err != nil {
		return err
	}
	free()
	// The guest's monotonic clock goes on from where the image's stopped.
	g.clk.Start = time.Now().Add(-time.Duration(img.MonotonicNs))
	g.phases.RestoreMs = ms(time.Since(began))
	g.phases.Image = "restored"
	if img.Snapshot != "" {
		g.phases.Image = "restored snapshot " + img.Snapshot
	}
	g.tell()
	return g.serve(ctx, mod, serveRestored, uint64(firstSessionFD))
}

// prepareImage runs the interpreter up to the end of wasipy_init in a
// neutral instance (the fixed mounts only, the environment every kernel
// shares), takes its image and stores it in the cache.
func (g *guest) prepareImage(ctx context.Context, mod *codecache.Module) error {
	if g.entry != reactorEntry {
		return nil // nothing to do: a command build has no image
	}
	key, err := g.imageKey(mod)
	if err != nil {
		return fmt.Errorf("no image: %w", err)
	}
	if g.pyc == nil {
		return errors.New("no image: no checked bytecode of the runtime to take it with")
	}
	layout, err := wasmbin.ReadLayout(mod.Wasm)
	if err != nil {
		return fmt.Errorf("no image: %w", err)
	}
	if _, err := image.StackBase(layout); err != nil {
		return fmt.Errorf("no image: %w", err)
	}
	fsc, _, err := g.fixedMounts()
	if err != nil {
		return err
	}
	inst, err := g.r.InstantiateModule(ctx, g.compiled, g.moduleConfig(fsc, imageEnv(g.cfg)).WithArgs("python").WithStartFunctions("_initialize"))
	if err != nil {
		return err
	}
	if err := exitCode(call(ctx, inst, "wasipy_init")); err != nil {
		return fmt.Errorf("preparing the interpreter: %w", err)
	}
	m := inst.Memory()
	buf, _ := m.Read(0, m.Size())
	img, err := image.Take(buf, layout, image.Header{Key: key, MonotonicNs: g.clk.Nanotime()})
	if err != nil {
		return err
	}
	cache := codecache.Open(g.cfg.CacheDir, g.cfg.KeyFile, os.Stderr)
	defer cache.Done()
	if !cache.Usable() {
		return errors.New("no image: the cache is not usable")
	}
	if err := cache.WriteImage(codecache.ImageName(key), img.Encode()); err != nil {
		return fmt.Errorf("storing the image: %w", err)
	}
	fmt.Fprintf(os.Stderr, "wasipy: interpreter image taken: %d MiB of memory, %.1f MiB stored\n", uint64(img.MemoryPages)*65536>>20, float64(img.Stored())/(1<<20))
	return nil
}

// loadImage reads and decodes the image for key, or says why there is none.
func loadImage(cache *codecache.Cache, key string) (*image.Image, func(), string) {
	name := codecache.ImageName(key)
	if !cache.Usable() {
		return nil, nil, "none: no usable cache"
	}
	b, release, ok := cache.ReadImage(name)
	free := sync.OnceFunc(release) // the image's bytes are let go as soon as they are in memory, and once
	if !ok {
		return nil, nil, "none: no image for this interpreter, runtime and options yet"
	}
	img, err := image.Decode(b)
	if err == nil && img.Key != key {
		err = errors.New("its key differs")
	}
	if err != nil {
		free()
		fmt.Fprintln(os.Stderr, "wasipy: interpreter image not used:", err)
		return nil, nil, "none: " + err.Error()
	}
	return img, free, ""
}

// loadSnapshot reads the named snapshot a kernel was asked to start from.
func (g *guest) loadSnapshot(name string) (*image.Image, func(), string) {
	if !snapshotName.MatchString(name) {
		return nil, nil, fmt.Sprintf("none: %.80q is not a snapshot name", name)
	}
	if g.key == "" {
		return nil, nil, fmt.Sprintf("none: snapshot %s cannot be used: %v", name, g.keyErr)
	}
	store := codecache.Open(g.cfg.SnapshotDir, g.cfg.KeyFile, os.Stderr)
	defer store.Done()
	b, release, ok := store.ReadImage(SnapshotFile(name))
	if !ok {
		return nil, nil, fmt.Sprintf("none: no snapshot %s (or it did not verify)", name)
	}
	free := sync.OnceFunc(release)
	img, err := image.Decode(b)
	if err == nil && img.Key != g.key {
		err = errors.New("it was taken with another interpreter, runtime or options")
	}
	if err != nil {
		free()
		return nil, nil, fmt.Sprintf("none: snapshot %s cannot be used: %v", name, err)
	}
	return img, free, ""
}

// imageKey names everything an image depends on: the module's bytes,
// the runtime (its sources; its bytecode is compiled from them by this
// interpreter), the environment CPython's init reads, the fixed mounts
// (their order gives the descriptors wasi-libc remembers) and the
// standard library behind them. Change any and the key changes, so a
// stale image is never found.
func (g *guest) imageKey(mod *codecache.Module) (string, error) {
	if g.entry != reactorEntry {
		return "", errors.New("python.wasm is a command, not wasipy's reactor build")
	}
	h := sha256.New()
	fmt.Fprintf(h, "wasipy interpreter image v1\nmodule %s\nruntime %s\nmounts %s %s %s %s\n", mod.Digest,
		codecache.TreeHash(g.runtimeFiles, "."), RuntimeGuestDir, channel.GuestDir, stdlibGuestDir, PycacheGuestDir)
	env := imageEnv(g.cfg)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "env %q=%q\n", k, env[k])
	}
	if lib := stdlibDir(g.cfg.PythonWasm); lib != "" {
		// The standard library: every file's name, size and change time
		// (build.sh replaces the folder whole; hashing 10 MB each start
		// would cost more than the image saves).
		if err := statTree(h, lib); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func statTree(h interface{ Write([]byte) (int, error) }, root string) error {
	return fs.WalkDir(os.DirFS(root), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "stdlib %q %d %d %v\n", path, info.Size(), info.ModTime().UnixNano(), info.Mode())
		return nil
	})
}

// imageEnv is the environment of the prepared instance: what every kernel
// shares, plus the session's variables that CPython's init reads
// (PYTHON*, locale), which therefore key the image.
func imageEnv(cfg Config) map[string]string {
	env := map[string]string{
		"LANG":                    "C.UTF-8",
		"PYTHONUNBUFFERED":        "1",
		"PYTHONDONTWRITEBYTECODE": "1",
		"PYTHONPYCACHEPREFIX":     PycacheGuestDir,
	}
	for k, v := range cfg.Env {
		if strings.HasPrefix(k, "PYTHON") || strings.HasPrefix(k, "LC_") || k == "LANG" {
			env[k] = v
		}
	}
	return env
}

// tell sends the kernel process this start's StartInfo, before the guest
// serves (so before its hello).
func (g *guest) tell() {
	if g.cfg.UseImage && g.entry == reactorEntry && !strings.HasPrefix(g.phases.Image, "restored") {
		g.phases.ImageMissing = true
	}
	b, _ := json.Marshal(g.phases)
	_ = g.out.Message(pipe.Started, b)
}

// call calls an export of the guest and returns its i32 result.
func call(ctx context.Context, mod api.Module, name string, args ...uint64) (int32, error) {
	f := mod.ExportedFunction(name)
	if f == nil {
		return 0, fmt.Errorf("python.wasm has no %s", name)
	}
	res, err := f.Call(ctx, args...)
	if err != nil {
		return 0, err
	}
	if len(res) == 0 {
		return 0, nil
	}
	return int32(uint32(res[0])), nil
}

// exitCode turns an export's result into the worker's: a non-zero return
// ends like `python` exiting with that code.
func exitCode(code int32, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return sys.NewExitError(uint32(code))
	}
	return nil
}
