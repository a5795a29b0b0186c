// Package kernelcmd is the wasipy-kernel command as a library: Main
// parses the command line (a kernel, `kernelspec`, `prepare`) and runs it.
// cmd/kernel is the stock kernel; a program that calls Main with more Go
// modules is a kernel whose notebooks can import them (see
// examples/kernel-with-modules).
//
// This file only parses flags and wires the packages together.
package kernelcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasipy/wasipy/fetch"
	"github.com/wasipy/wasipy/history"
	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/interp/jupyter"
	"github.com/wasipy/wasipy/interp/sandboxfs"
	"github.com/wasipy/wasipy/kernel"
	"github.com/wasipy/wasipy/kernelspec"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
	"github.com/wasipy/wasipy/protocol/zmtp"
)

// version is the kernel's version (Options.Version).
var version = "0.1.0"

// extraModules are the Go modules of Options.Modules.
var extraModules []*interp.Module

// Options are what a kernel program adds to the stock command.
type Options struct {
	// Version is what --version and kernel_info say ("" keeps the stock one).
	Version string
	// Modules are Python modules implemented in Go that every session
	// can import, beside the stock ones (wasipy.http).
	Modules []*interp.Module
}

// Main runs the kernel command with os.Args and exits. Call it first
// thing in main: the same program is started again as the interpreter's
// worker, which Main runs too.
func Main(opts Options) {
	if interp.WorkerMain() {
		return
	}
	if opts.Version != "" {
		version = opts.Version
	}
	extraModules = opts.Modules
	if len(os.Args) > 1 && os.Args[1] == "kernelspec" {
		os.Exit(runKernelspec(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "prepare" {
		os.Exit(runPrepare(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "launch" {
		os.Exit(runLaunch(os.Args[2:], os.Getenv, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

// envList collects repeated --env NAME=VALUE flags.
type envList map[string]string

func (e envList) String() string { return "" }
func (e envList) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	e[name] = value
	return nil
}

func run(args []string, stderr io.Writer) int { return runKernel(args, stderr, nil) }

// runKernel parses the kernel's flags and serves; sb binds the sockets
// (nil: from --connection-file).
func runKernel(args []string, stderr io.Writer, sb sockets) int {
	fs := flag.NewFlagSet("wasipy-kernel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	connFile := fs.String("connection-file", "", "Jupyter connection file (required)")
	fs.StringVar(connFile, "f", "", "short for --connection-file")
	wasm := fs.String("python-wasm", interp.PythonWasm(), "WASI CPython command module (default $WASIPY_PYTHON_WASM, else the one install.sh fetched)")
	cacheDir := fs.String("cache-dir", interp.DefaultCacheDir(), "where compiled code is cached")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (warn: only what needs attention, like ipykernel)")
	env := envList{}
	fs.Var(env, "env", "NAME=VALUE added to the sandbox's environment (repeatable)")
	defaultHistory := history.DefaultDir()
	if d, ok := os.LookupEnv("WASIPY_HISTORY_DIR"); ok {
		defaultHistory = d
	}
	historyDir := fs.String("history-dir", defaultHistory, "where executed cells are kept for history_request, outside the sandbox (default $WASIPY_HISTORY_DIR, else the data dir's history/; \"\" keeps none)")
	var allowNet hostList
	fs.Var(&allowNet, "allow-net", "hosts (name or name:port, comma-separated, repeatable; * for any) that wasipy.http and urllib may reach through the kernel; none by default")
	var paths pathList
	fs.Var(&paths, "path", "a host folder of pure-Python packages the sandbox may import from, read-only (repeatable)")
	lim := limitFlags(fs)
	pf := addPipFlags(fs)
	snapshot := fs.String("snapshot", "", "start from the session saved by `%snapshot save NAME` (with the same interpreter and options) instead of a fresh one")
	noImage := fs.Bool("no-image", false, "start the interpreter from scratch (CPython's init, the runtime's imports) even when the cache holds a prepared image of it; for comparing the two")
	var rs restartFlags
	fs.BoolVar(&rs.inPlace, "restart-in-place", false, "a restart (shutdown_request with restart) starts the session over in this process, keeping its sockets, instead of ending it; only for a launcher that keeps the process (wasipy's provisioner adds it)")
	fs.BoolVar(&rs.spare, "warm-spare", false, "keep the next interpreter started ahead of need, so a restart swaps it in (costs one more idle worker's memory)")
	keepOnExit := fs.Bool("keep-on-exit", false, "when cell code ends its process (os._exit, os.kill(os.getpid(), SIGTERM), os.abort), replace the interpreter and keep the kernel, instead of ending the kernel as ipykernel does")
	showVersion := fs.Bool("version", false, "print the version and exit")
	args, ipy := splitIPythonArgs(args)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(os.Stdout, "wasipy-kernel", version)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "wasipy-kernel: bad --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if sb == nil {
		if *connFile == "" {
			fmt.Fprintln(stderr, "wasipy-kernel: --connection-file is required (Jupyter passes it; see `wasipy-kernel kernelspec --help`)")
			return 2
		}
		sb = connectionFile(*connFile)
	}
	ipy.logIgnored(log)
	ipy.guestEnv(env)
	hdir, cleanup, err := historyFor(ipy, *historyDir)
	if err != nil {
		log.Error("history", "err", err)
		return 1
	}
	defer cleanup()
	*historyDir = hdir
	ps, err := newPipSetup(pf, *connFile, *cacheDir, allowNet, log)
	if err != nil {
		fmt.Fprintln(stderr, "wasipy-kernel:", err)
		return 2
	}
	code, err := serve(sb, *wasm, *cacheDir, *historyDir, env, paths, allowNet, lim.values(), !*keepOnExit, rs, image{skip: *noImage, snapshot: *snapshot}, ps, log)
	if err != nil {
		log.Error("kernel stopped", "err", err)
		return 1
	}
	return code
}

// pathList collects repeated --path flags as absolute folders.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, string(os.PathListSeparator)) }
func (p *pathList) Set(s string) error {
	abs, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a folder", s)
	}
	*p = append(*p, abs)
	return nil
}

// hostList collects --allow-net hosts.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }
func (h *hostList) Set(s string) error {
	for _, host := range strings.Split(s, ",") {
		if host = strings.TrimSpace(host); host != "" {
			*h = append(*h, host)
		}
	}
	return nil
}

// serve runs the kernel until it is asked to stop; it returns the status
// the process exits with (the one cell code gave, when it ended the kernel).
func serve(sb sockets, wasm, cacheDir, historyDir string, env map[string]string, paths, allowNet []string, lim limits, endOnExit bool, rs restartFlags, img image, ps *pipSetup, log *slog.Logger) (int, error) {
	workDir, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	if workDir, err = filepath.EvalSymlinks(workDir); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var dq *sandboxfs.Quota
	if lim.disk.bytes > 0 || lim.disk.files > 0 {
		// One quota for the session: every interpreter it starts shares it.
		if dq, err = sandboxfs.NewQuota(lim.disk.bytes, lim.disk.files); err != nil {
			return 0, err
		}
	}
	hidden := privatePaths(sb.private(), cacheDir, historyDir)
	// startProcess starts an interpreter process; adopt makes one the
	// kernel's interpreter. They are apart so that a warm spare can start
	// the process before a restart asks for it.
	startProcess := func(ctx context.Context) (jupyter.Process, error) {
		cfg := interp.Config{
			PythonWasm:  wasm,
			CacheDir:    cacheDir,
			WorkDir:     workDir,
			Env:         env,
			ImportPaths: paths,
			Hidden:      hidden,
			DiskQuota:   dq,
			MemoryLimit: lim.memory,
			NoImage:     img.skip,
			Snapshot:    img.snapshot,
			Modules:     append([]*interp.Module{fetch.Module(fetch.Policy{Allow: allowNet}, nil)}, extraModules...),
			Stderr:      os.Stderr,
		}
		if err := ps.configure(&cfg); err != nil {
			return nil, err
		}
		p, err := interp.Start(ctx, cfg)
		if err != nil {
			return nil, err // not a nil *interp.Process in a non-nil interface
		}
		return p, nil
	}
	// The first interpreter starts while the sockets are bound: its
	// worker compiles python.wasm meanwhile (most of a start).
	var early chan earlyStart
	if !rs.spare {
		early = make(chan earlyStart, 1)
		go func() {
			began := time.Now()
			p, err := startProcess(ctx)
			early <- earlyStart{p, err, began}
		}()
	}
	defer func() {
		if early != nil { // never taken: the kernel did not get that far
			if r := <-early; r.err == nil {
				r.p.Close()
			}
		}
	}()

	srv, err := sb.listen(ctx, log)
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	out := kernel.NewOutbox(srv, log) // iopub: merges stream text, never drops
	defer out.Close()                 // before srv.Close: what waits goes out first

	var adopt func(ctx context.Context, p jupyter.Process, host kernel.Host) (kernel.Interpreter, error)
	adopt = func(ctx context.Context, p jupyter.Process, host kernel.Host) (kernel.Interpreter, error) {
		ps.started(ctx, p.(*interp.Process))
		in, err := jupyter.New(p, host, jupyter.Options{Implementation: "wasipy", Version: version, Log: log})
		if err != nil {
			p.Close()
			return nil, err
		}
		return &renewable{Interpreter: in, p: p.(*interp.Process), adopt: adopt, log: log}, nil
	}
	start := func(ctx context.Context, host kernel.Host) (kernel.Interpreter, error) {
		started := time.Now()
		var p jupyter.Process
		var err error
		if early != nil { // the first start: begun before the sockets
			r := <-early
			early = nil
			p, err, started = r.p, r.err, r.began
		} else {
			p, err = startProcess(ctx)
		}
		if err != nil {
			return nil, err
		}
		in, err := adopt(ctx, p, host)
		if err != nil {
			return nil, err
		}
		si := p.(*interp.Process).StartInfo()
		log.Info("interpreter started", "python", in.(*renewable).LanguageVersion(), "took", time.Since(started).Round(time.Millisecond),
			"image", si.Image, "compile_ms", si.CompileMs, "load_ms", si.LoadMs, "restore_ms", si.RestoreMs, "init_ms", si.InitMs)
		return in, nil
	}
	var spare kernel.Spare
	if rs.spare {
		spare = jupyter.NewSpare(startProcess, func(p jupyter.Process, host kernel.Host) (kernel.Interpreter, error) {
			return adopt(context.Background(), p, host)
		})
	}
	hist := openHistory(historyDir, log)
	if hist != nil {
		defer hist.Store().Close()
	}
	bound := srv.Info() // the ports actually bound (the file may ask for 0)
	ports := content.ConnectReply{ShellPort: bound.ShellPort, IOPubPort: bound.IOPubPort,
		StdinPort: bound.StdinPort, HBPort: bound.HBPort, ControlPort: bound.ControlPort}
	k, err := kernel.New(ctx, sb.transport(out), start, kernel.Options{Implementation: "wasipy", Version: version, Log: log,
		History: hist, MaxOutput: lim.output, EndOnExit: endOnExit, Ports: ports,
		RestartInPlace: rs.inPlace, Spare: spare})
	if err != nil {
		return 0, err
	}

	// Interrupts arrive as interrupt_request (interrupt_mode "message"); a
	// terminal's Ctrl-C must not kill the kernel. SIGTERM ends it cleanly.
	signal.Ignore(syscall.SIGINT)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)

	parentGone := watchParent(log, ctx.Done())

	code := 0
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, k) }()
	go k.Run(ctx)
	stop, err := sb.serving(ctx, srv, k, log)
	if err != nil {
		cancel()
		k.Close()
		return 0, err
	}

	select {
	case <-stop:
		log.Info("stopped by the launcher")
	case <-k.Done():
		log.Info("shutdown requested")
	case s := <-sigs:
		log.Info("signal", "signal", s.String())
	case <-parentGone:
	case <-k.Ended():
		code = k.ExitCode()
	case err := <-served:
		if err != nil && !errors.Is(err, context.Canceled) {
			return 0, err
		}
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 2*time.Second)
	_ = out.Flush(flushCtx)
	cancelFlush()
	cancel()
	k.Close()
	return code, nil
}

// restartFlags are how the kernel restarts: in place (the launcher keeps
// the process), and from a warm spare.
type restartFlags struct {
	inPlace bool
	spare   bool
}

// openHistory starts this kernel's session in the history store. History
// is optional: a store that cannot be opened is not used. The guest never
// reaches it, wherever it is: its folder is among the hidden paths.
func openHistory(dir string, log *slog.Logger) *history.Session {
	if dir == "" {
		return nil
	}
	store, err := history.Open(dir)
	if err != nil {
		log.Warn("history disabled", "err", err)
		return nil
	}
	sess, err := store.NewSession()
	if err != nil {
		store.Close()
		log.Warn("history disabled", "err", err)
		return nil
	}
	return sess
}

// earlyStart is the first interpreter's start, begun before the sockets.
type earlyStart struct {
	p     jupyter.Process
	err   error
	began time.Time
}

// renewable is the kernel's interpreter, able to renew itself in its
// worker process for an in-place restart (kernel.Renewer).
type renewable struct {
	*jupyter.Interpreter
	p     *interp.Process
	adopt func(ctx context.Context, p jupyter.Process, host kernel.Host) (kernel.Interpreter, error)
	log   *slog.Logger
}

var _ kernel.Renewer = (*renewable)(nil)

// renewTimeout bounds a renew: a guest that does not give its worker back
// (a background task that never yields) is killed instead, and the
// restart starts a new worker.
const renewTimeout = 5 * time.Second

func (r *renewable) Renew(ctx context.Context, host kernel.Host) (kernel.Interpreter, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	n, err := r.p.Renew(ctx)
	if err != nil {
		return nil, err
	}
	in, err := r.adopt(ctx, n, host)
	if err != nil {
		return nil, err
	}
	si := n.StartInfo()
	r.log.Info("interpreter renewed in its worker", "took", time.Since(started).Round(time.Millisecond),
		"image", si.Image, "load_ms", si.LoadMs, "restore_ms", si.RestoreMs, "init_ms", si.InitMs)
	return in, nil
}

// image says what the interpreter starts from.
type image struct {
	skip     bool   // --no-image: from scratch
	snapshot string // --snapshot NAME
}

// runPrepare is `wasipy-kernel prepare`: compile python.wasm into the cache
// and the runtime's bytecode, so that the first kernel starts fast (and its
// worker does not keep the compiler's memory for its whole life).
func runPrepare(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasipy-kernel prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasm := fs.String("python-wasm", interp.PythonWasm(), "WASI CPython command module (default $WASIPY_PYTHON_WASM, else the installed one)")
	cacheDir := fs.String("cache-dir", interp.DefaultCacheDir(), "where compiled code is cached")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	started := time.Now()
	cfg := interp.Config{PythonWasm: *wasm, CacheDir: *cacheDir, WorkDir: os.TempDir(), Stderr: stderr}
	if err := interp.Prepare(ctx, cfg); err != nil {
		fmt.Fprintln(stderr, "wasipy-kernel prepare:", err)
		return 1
	}
	// A first start compiles the module (when Prepare found the bytecode
	// cached already) and checks that the interpreter serves.
	p, err := interp.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "wasipy-kernel prepare:", err)
		return 1
	}
	p.Close()
	var hello struct{ Version string }
	_ = json.Unmarshal(p.Hello(), &hello)
	fmt.Fprintf(stderr, "prepared Python %s in %s (cache: %s)\n", hello.Version, time.Since(started).Round(time.Millisecond), *cacheDir)
	return 0
}

// privatePaths are the host folders and files the guest must never reach,
// even when the notebook folder holds them (Jupyter started in the home
// folder): the kernel's data (python.wasm, the kernel binary), its caches,
// its history, Jupyter's own folders and those of the sockets' binder
// (the connection file and its folder).
func privatePaths(binder []string, cacheDir, historyDir string) []string {
	out := append([]string{interp.DataDir(), cacheDir, historyDir}, kernelspec.PrivatePaths()...)
	out = append(out, binder...)
	if exe, err := os.Executable(); err == nil {
		out = append(out, exe)
	}
	return out
}

// sockets is how the kernel gets its five sockets: bound as a connection
// file says (Jupyter started the kernel), or bound by the kernel itself and
// reported to a gateway (launch.go).
type sockets interface {
	listen(ctx context.Context, log *slog.Logger) (*zmtp.Server, error)
	// transport is what the kernel sends through: out (the iopub outbox
	// over the server), or a wrapper of it.
	transport(out kernel.Transport) kernel.Transport
	// serving is called once the kernel serves; the kernel ends when the
	// channel it returns is closed (a nil channel: never).
	serving(ctx context.Context, srv *zmtp.Server, k *kernel.Kernel, log *slog.Logger) (<-chan struct{}, error)
	// private lists host paths of the binder's the guest must never reach.
	private() []string
}

// connectionFile binds the sockets on the ports of a Jupyter connection file.
type connectionFile string

func (f connectionFile) listen(ctx context.Context, log *slog.Logger) (*zmtp.Server, error) {
	info, err := protocol.LoadConnectionFile(string(f))
	if err != nil {
		return nil, err
	}
	return zmtp.Listen(ctx, info, log)
}

func (f connectionFile) transport(out kernel.Transport) kernel.Transport { return out }

func (f connectionFile) serving(context.Context, *zmtp.Server, *kernel.Kernel, *slog.Logger) (<-chan struct{}, error) {
	return nil, nil
}

// private hides the file itself too: when its folder holds the notebook
// folder (or is it), hiding the folder would hide the whole mount and is
// skipped, but the key must still be out of reach.
func (f connectionFile) private() []string {
	abs, err := filepath.Abs(string(f))
	if err != nil {
		return nil
	}
	return []string{filepath.Dir(abs), abs}
}
