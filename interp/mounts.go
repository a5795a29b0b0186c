package interp

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasipy/wasipy/interp/sandboxfs"
)

// quotaGuestDir is where the guest reads its disk quota's usage.
const quotaGuestDir = "/.wasipy/quota"

// mountHostFolders mounts the working directory (read-write) and the
// --path folders (read-only) through sandboxfs, so that no path, link or
// race reaches outside them, and the kernel's own folders inside them stay
// out of reach (SECURITY.md, "Files").
func mountHostFolders(fsc wazero.FSConfig, cfg Config) (wazero.FSConfig, error) {
	if cfg.WorkDir == "" && len(cfg.ImportPaths) == 0 {
		return fsc, nil
	}
	hidden := append([]string(nil), cfg.Hidden...)
	if cfg.CacheDir != "" {
		hidden = append(hidden, cfg.CacheDir)
	}
	// The data dir holds the key that seals the code cache (cacheauth.go).
	hidden = append(hidden, DataDir())
	if cfg.PythonWasm != "" {
		if abs, err := filepath.Abs(cfg.PythonWasm); err == nil {
			hidden = append(hidden, abs)
		}
	}
	logf := func(msg string) { fmt.Fprintln(os.Stderr, "wasipy:", msg) }
	quota, err := workerQuota(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.WorkDir != "" {
		w, err := sandboxfs.New(cfg.WorkDir, sandboxfs.Options{Hidden: hidden, ReadOnlyPaths: cfg.ImportPaths, Quota: quota, Log: logf})
		if err != nil {
			return nil, err
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(w, cfg.WorkDir)
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(sandboxfs.UsageFS(quota), quotaGuestDir)
	}
	for _, dir := range cfg.ImportPaths {
		r, err := sandboxfs.New(dir, sandboxfs.Options{ReadOnly: true, Hidden: hidden, Log: logf})
		if err != nil {
			return nil, err
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(r, dir)
	}
	return fsc, nil
}

// workerQuota attaches to the kernel session's quota counters, handed to
// the worker as an inherited descriptor; nil when there is no quota.
func workerQuota(cfg Config) (*sandboxfs.Quota, error) {
	if cfg.QuotaFD <= 0 {
		return nil, nil
	}
	return sandboxfs.OpenQuota(os.NewFile(uintptr(cfg.QuotaFD), "quota"), cfg.DiskQuotaBytes, cfg.DiskQuotaFiles)
}
