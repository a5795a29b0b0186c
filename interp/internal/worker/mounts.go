package worker

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// quotaGuestDir is where the guest reads its disk quota's usage.
const quotaGuestDir = "/.wasipy/quota"

// mountHostFolders mounts the working directory (read-write) and the
// --path folders (read-only) through sandboxfs, so that no path, link or
// race reaches outside them, and the kernel's own folders inside them stay
// out of reach (SECURITY.md, "Files").
//
// quota is the session's disk quota (workerQuota), nil for none.
//
// newFS makes (or gives again) a fenced mount: see guest.sandboxFS.
func mountHostFolders(fsc wazero.FSConfig, cfg Config, quota *sandboxfs.Quota, newFS fenceFunc) (wazero.FSConfig, error) {
	if cfg.WorkDir == "" && len(cfg.ImportPaths) == 0 && len(cfg.Mounts) == 0 {
		return fsc, nil
	}
	hidden := cfg.Hidden
	logf := func(msg string) { fmt.Fprintln(os.Stderr, "wasipy:", msg) }
	var mountAt func(dir, guest string, o sandboxfs.Options) error
	mount := func(dir string, o sandboxfs.Options) error { return mountAt(dir, dir, o) }
	mountAt = func(dir, guest string, o sandboxfs.Options) error {
		m, err := newFS(dir, o)
		if errors.Is(err, sandboxfs.ErrUnsupported) {
			// Where host folders cannot be fenced, the interpreter still
			// runs, without them, and the log says why.
			logf(fmt.Sprintf("%s is not available to the notebook's code: %v", dir, err))
			return nil
		}
		if err != nil {
			return err
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(m, guest)
		return nil
	}
	if cfg.WorkDir != "" {
		if err := mount(cfg.WorkDir, sandboxfs.Options{Hidden: hidden, ReadOnlyPaths: cfg.ImportPaths, Quota: quota, Log: logf}); err != nil {
			return nil, err
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(sandboxfs.UsageFS(quota), quotaGuestDir)
	}
	for _, dir := range cfg.ImportPaths {
		if err := mount(dir, sandboxfs.Options{ReadOnly: true, Hidden: hidden, Log: logf}); err != nil {
			return nil, err
		}
	}
	for _, m := range cfg.Mounts {
		if !strings.HasPrefix(m.Guest, "/.wasipy/") {
			return nil, fmt.Errorf("mount %s: guest path %q is not beneath /.wasipy/", m.Host, m.Guest)
		}
		if err := mountAt(m.Host, m.Guest, sandboxfs.Options{ReadOnly: true, Hidden: hidden, Log: logf}); err != nil {
			return nil, err
		}
	}
	return fsc, nil
}

// fenceFunc makes a sandboxfs mount of a host folder.
type fenceFunc func(dir string, o sandboxfs.Options) (experimentalsys.FS, error)

// workerQuota attaches to the kernel session's quota counters, handed to
// the worker as an inherited descriptor; nil when there is no quota. Call
// it once per worker: every guest of it (a renewed one too) shares the
// result, and QuotaFD must have one *os.File, or the first one's finalizer
// would close the descriptor under the second.
func workerQuota(cfg Config) (*sandboxfs.Quota, error) {
	if !cfg.Quota {
		return nil, nil
	}
	return sandboxfs.OpenQuota(os.NewFile(QuotaFD, "quota"), cfg.QuotaBytes, cfg.QuotaFiles)
}
