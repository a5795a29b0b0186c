package kernelcmd

import (
	"context"
	"flag"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wasipy/wasipy/fetch"
	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/kernelspec"
	"github.com/wasipy/wasipy/pip"
	"github.com/wasipy/wasipy/protocol"
)

// pipFlags are the package installer's options.
type pipFlags struct {
	siteDir, preload *string
	indexURLs        hostList
}

func addPipFlags(fs *flag.FlagSet) *pipFlags {
	f := &pipFlags{}
	f.siteDir = fs.String("site-dir", "", "host folder that %pip installs packages into; the sandbox reads it, only the kernel writes it (default: the data dir's site/KERNEL_NAME, KERNEL_NAME from the connection file, so one per kernelspec; site/default without one)")
	f.preload = fs.String("preload", "", "packages to install at start (comma-separated requirements, or a requirements file); already installed ones need no network")
	fs.Var(&f.indexURLs, "index-url", "PEP 503/691 package index(es) %pip uses by default (comma-separated); its host must also be in --allow-net")
	return f
}

// pipSetup configures each interpreter of the session for %pip and runs
// --preload in the first one.
type pipSetup struct {
	inst    *pip.Installer
	libs    []interp.Mount
	preload []string
	index   []string
	once    sync.Once
	log     *slog.Logger
}

// siteDirFor is the site folder of a kernel started without --site-dir:
// its kernelspec's (the kernel_name Jupyter writes into the connection
// file), else the default one. Kernelspecs that `wasipy-kernel kernelspec`
// writes name their folder in argv; this keeps the same split for
// kernelspecs written by hand.
func siteDirFor(connFile string) string {
	name := ""
	if info, err := protocol.LoadConnectionFile(connFile); err == nil {
		name = info.KernelName
	}
	return kernelspec.SiteDir(interp.DataDir(), name)
}

func newPipSetup(f *pipFlags, connFile, cacheDir string, allowNet []string, log *slog.Logger) (*pipSetup, error) {
	dir := *f.siteDir
	if dir == "" {
		dir = siteDirFor(connFile)
	}
	site, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	pre, err := pip.ParsePreload(*f.preload)
	if err != nil {
		return nil, err
	}
	wheels := ""
	if cacheDir != "" {
		wheels = filepath.Join(cacheDir, "wheels")
	} else {
		wheels = filepath.Join(site, "..", ".wheels-"+filepath.Base(site))
	}
	libs, err := pip.LibraryMounts(pip.DefaultLibraryPath)
	if err != nil {
		// The kernel runs without a resolver; %pip says what to install.
		log.Warn("package installer", "err", err)
	}
	return &pipSetup{
		inst:    &pip.Installer{Site: pip.Site{Dir: site}, Cache: pip.Cache{Dir: wheels}, Policy: fetch.Policy{Allow: allowNet}},
		libs:    libs,
		preload: pre,
		index:   f.indexURLs,
		log:     log,
	}, nil
}

func (s *pipSetup) configure(cfg *interp.Config) error {
	if err := pip.Configure(cfg, s.inst, s.libs); err != nil {
		// A site folder that cannot be made (a read-only data dir) costs
		// %pip, not the kernel: %pip then says it has no installer.
		s.log.Warn("package installer disabled", "err", err)
		return nil
	}
	// A kernel killed mid-install left a journal: settle it before the
	// guest reads the site folder.
	if did, err := s.inst.Site.Recover(); err != nil {
		s.log.Error("site folder recovery", "site", s.inst.Site.Dir, "err", err)
	} else if did != "" {
		s.log.Warn("site folder recovery", "site", s.inst.Site.Dir, "did", did)
	}
	if len(s.index) > 0 {
		cfg.Env["WASIPY_PIP_INDEX_URL"] = strings.Join(s.index, " ")
	}
	return nil
}

// started runs --preload once per kernel, in its first interpreter; a
// failure is logged and the kernel serves anyway.
func (s *pipSetup) started(ctx context.Context, p *interp.Process) {
	s.once.Do(func() {
		if len(s.preload) == 0 {
			return
		}
		t := time.Now()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		got, err := pip.Install(ctx, p, s.preload)
		if err != nil {
			s.log.Error("--preload failed", "requirements", strings.Join(s.preload, ","), "err", err)
			return
		}
		s.log.Info("--preload", "installed", strings.Join(got, " "), "took", time.Since(t).Round(time.Millisecond))
	})
}
