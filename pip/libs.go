package pip

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wasipy/wasipy/interp"
)

// The guest paths of what the installer mounts (interp/runtime/_wasipy_pip.py
// reads the same names).
const (
	SiteGuestDir = "/.wasipy/site"
	LibGuestDir  = "/.wasipy/lib"
	// SiteEnv tells the guest where its site folder is.
	SiteEnv = "WASIPY_SITE"
)

// Libraries are the pure-Python packages the guest's resolver runs on:
// the packaging standards (PEP 440/508/425 tags) and a backtracking
// resolver, both well kept elsewhere and packaged by Debian
// (python3-packaging, python3-resolvelib), which install.sh installs.
// They are mounted read-only from where Debian puts them, not copied:
// Debian's security updates apply at once, and nothing of the host's
// Python is needed to run them.
var Libraries = []string{"packaging", "resolvelib"}

// DefaultLibraryPath is where Debian installs pure-Python packages.
var DefaultLibraryPath = []string{"/usr/lib/python3/dist-packages"}

// LibraryMounts finds each of Libraries in the first folder of search
// that holds it and mounts it at LibGuestDir/NAME. A missing one is an
// error that names the Debian package to install.
func LibraryMounts(search []string) ([]interp.Mount, error) {
	var out []interp.Mount
	var missing []string
	for _, name := range Libraries {
		found := ""
		for _, dir := range search {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(filepath.Join(p, "__init__.py")); err == nil && st.Mode().IsRegular() {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, "python3-"+name)
			continue
		}
		out = append(out, interp.Mount{Host: found, Guest: LibGuestDir + "/" + name})
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("%%pip needs %s (apt-get install %s; install.sh does), looked in %s",
			strings.Join(missing, " and "), strings.Join(missing, " "), strings.Join(search, ":"))
	}
	return out, nil
}

// Configure adds what the installer needs to an interpreter's Config: the
// site folder read-only at SiteGuestDir (and hidden from every other
// mount, so a site folder inside the notebook folder is not writable
// through it), the resolver's libraries, and the Go module.
func Configure(cfg *interp.Config, in *Installer, libs []interp.Mount) error {
	if err := os.MkdirAll(in.Site.Dir, 0o755); err != nil {
		return fmt.Errorf("site folder: %w", err)
	}
	cfg.Mounts = append(cfg.Mounts, interp.Mount{Host: in.Site.Dir, Guest: SiteGuestDir})
	cfg.Mounts = append(cfg.Mounts, libs...)
	cfg.Hidden = append(cfg.Hidden, in.Site.Dir, in.Cache.Dir)
	if cfg.Env == nil {
		cfg.Env = map[string]string{}
	}
	cfg.Env[SiteEnv] = SiteGuestDir
	cfg.Modules = append(cfg.Modules, Module(in))
	return nil
}
