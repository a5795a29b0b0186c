package kernelcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/kernelspec"
)

const kernelspecUsage = `usage: wasipy-kernel kernelspec [flags]

Writes or installs the Jupyter kernelspec (kernel.json and logos) that runs
this binary. With neither --write nor --install, prints kernel.json.

  --write DIR          write the kernelspec directory DIR only, for
                       'jupyter kernelspec install DIR'
  --install            install into a Jupyter data directory:
    --user             the user's (default; honours $JUPYTER_DATA_DIR)
    --prefix P         P/share/jupyter
    --sys-prefix       sys.prefix/share/jupyter of the python3 on PATH
    --name NAME        kernel name (default wasipy)
  --python-wasm PATH   interpreter the kernel runs (passed to it as
                       --python-wasm; made absolute)
  --display-name NAME  the name Jupyter shows (default: Python 3.13 (wasipy),
                       the interpreter install.sh builds)
  --memory-limit SIZE  cap on the sandbox's memory (512M, 2G; default 2G,
                       at most 4G); passed to the kernel
  --max-output SIZE    cap on one cell's output (default 100M; 0: none);
                       passed to the kernel
  --disk-quota Q       what a session may add beneath the notebook folder,
                       SIZE[,FILES] (default 2G,20000; off: none); passed
                       to the kernel
  --engine E           how the kernel is started (default local):
                       local, provisioner (wasipy's provisioner, no port
                       race), gp-distributed, gp-docker, gp-kubernetes
                       (gateway_provisioners), eg-distributed, eg-docker,
                       eg-kubernetes (Enterprise Gateway); see docs/DEPLOY.md
  --image NAME         the kernel image, for the docker and kubernetes engines
  --site-dir DIR       the folder that pip installs from notebooks go into;
                       passed to the kernel
                       (default: the data dir's site/NAME, NAME being the
                       kernel name: --name, or the last element of --write's
                       DIR as 'jupyter kernelspec install' names it; so each
                       kernelspec is its own environment)
  --snapshot NAME      start every kernel of this kernelspec from the session
                       a notebook saved as NAME (the magic: snapshot save
                       NAME); passed to the kernel
`

// runKernelspec runs `wasipy-kernel kernelspec ARGS` and returns the exit
// status: 0 on success, 1 when writing fails, 2 on bad usage.
func runKernelspec(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kernelspec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, to stdout when asked for
	var (
		writeDir   = fs.String("write", "", "")
		install    = fs.Bool("install", false, "")
		prefix     = fs.String("prefix", "", "")
		sysPrefix  = fs.Bool("sys-prefix", false, "")
		_          = fs.Bool("user", false, "") // the default scope, accepted to be explicit
		name       = fs.String("name", kernelspec.Name, "")
		pythonWasm = fs.String("python-wasm", "", "")
		display    = fs.String("display-name", kernelspec.DisplayName, "")
		engine     = fs.String("engine", "local", "")
		image      = fs.String("image", "", "")
		siteDir    = fs.String("site-dir", "", "")
		snapshot   = fs.String("snapshot", "", "")
	)
	lim := limitFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, kernelspecUsage)
			return 0
		}
		fmt.Fprint(stderr, kernelspecUsage) // after the flag package's error
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wasipy-kernel kernelspec: "+format+"\n", a...)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "wasipy-kernel: %v\n", err)
		return 1
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if set["write"] && *writeDir == "" {
		return usageErr("--write needs a directory")
	}
	if set["write"] && *install {
		return usageErr("--write and --install exclude each other")
	}
	scopes := 0
	for _, s := range []string{"user", "prefix", "sys-prefix"} {
		if set[s] {
			if !*install {
				return usageErr("--%s only applies with --install", s)
			}
			scopes++
		}
	}
	if scopes > 1 {
		return usageErr("choose one of --user, --prefix and --sys-prefix")
	}
	if set["prefix"] && *prefix == "" {
		return usageErr("--prefix needs a directory")
	}
	if set["name"] && !*install {
		return usageErr("--name only applies with --install (jupyter kernelspec install has its own --name)")
	}
	if !kernelspec.ValidName(*name) {
		return usageErr("invalid kernel name %q (use letters, digits, '.', '_' and '-')", *name)
	}

	binary, err := kernelspecExecutable()
	if err != nil {
		return fail(err)
	}
	var extra []string
	if set["python-wasm"] {
		if *pythonWasm == "" {
			return usageErr("--python-wasm needs a path")
		}
		p, err := filepath.Abs(*pythonWasm)
		if err != nil {
			return fail(err)
		}
		if err := kernelspecCheckWasm(p); err != nil {
			return fail(fmt.Errorf("--python-wasm: %w", err))
		}
		extra = []string{"--python-wasm", p}
	}
	// Limits given here become the kernel's argv; unset ones keep the
	// kernel's defaults (which may change with its version).
	if set["memory-limit"] {
		extra = append(extra, "--memory-limit", formatSize(lim.memory.n))
	}
	if set["max-output"] {
		extra = append(extra, "--max-output", formatSize(lim.output.n))
	}
	if set["disk-quota"] {
		extra = append(extra, "--disk-quota", lim.disk.String())
	}
	// Each kernelspec gets its own package folder, named in its argv so
	// that a user can see and change it.
	site := *siteDir
	if !set["site-dir"] {
		specName := kernelspec.Name
		switch {
		case *install:
			specName = *name
		case set["write"]:
			specName = filepath.Base(filepath.Clean(*writeDir))
		}
		site = kernelspec.SiteDir(interp.DataDir(), specName)
	} else if site == "" {
		return usageErr("--site-dir needs a directory")
	}
	if site, err = filepath.Abs(site); err != nil {
		return fail(err)
	}
	extra = append(extra, "--site-dir", site)
	if set["snapshot"] {
		if *snapshot == "" {
			return usageErr("--snapshot needs a name")
		}
		extra = append(extra, "--snapshot", *snapshot)
	}
	spec := kernelspec.New(binary, extra)
	if *display == "" {
		return usageErr("--display-name must not be empty")
	}
	spec.DisplayName = *display
	if spec, err = kernelspec.ForEngine(spec, *engine, *image); err != nil {
		return usageErr("%v", err)
	}

	switch {
	case set["write"]:
		dir, err := filepath.Abs(*writeDir)
		if err != nil {
			return fail(err)
		}
		if err := kernelspec.WriteDir(dir, spec); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "Wrote kernelspec to %s\n", dir)
	case *install:
		var dataDir string
		switch {
		case set["prefix"]:
			p, err := filepath.Abs(*prefix)
			if err != nil {
				return fail(err)
			}
			dataDir = kernelspec.PrefixDataDir(p)
		case *sysPrefix:
			dataDir, err = kernelspec.SysPrefixDataDir()
			if err != nil {
				return fail(err)
			}
		default:
			dataDir = kernelspec.UserDataDir()
			if !filepath.IsAbs(dataDir) && os.Getenv("JUPYTER_DATA_DIR") == "" {
				if _, err := os.UserHomeDir(); err != nil {
					return fail(errors.New("cannot find the home directory for the user's Jupyter data directory; set JUPYTER_DATA_DIR or use --prefix"))
				}
			}
			if dataDir, err = filepath.Abs(dataDir); err != nil {
				return fail(err)
			}
		}
		dir, err := kernelspec.Install(dataDir, *name, spec)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "Installed kernelspec %s in %s\n", *name, dir)
	default:
		data, err := spec.Marshal()
		if err != nil {
			return fail(err)
		}
		if _, err := stdout.Write(data); err != nil {
			return fail(err)
		}
	}
	return 0
}

// kernelspecCheckWasm checks that path is a regular file that starts with
// the WebAssembly magic bytes, to catch a wrong path at install time rather
// than at the first notebook.
func kernelspecCheckWasm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != "\x00asm" {
		return fmt.Errorf("%s is not a WebAssembly module", path)
	}
	return nil
}

// kernelspecExecutable returns the absolute path of the running binary with
// symbolic links resolved, for argv[0] of kernel.json.
func kernelspecExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this binary's path: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Abs(exe)
}
