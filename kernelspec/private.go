package kernelspec

import (
	"os"
	"path/filepath"
	"runtime"
)

// PrivatePaths lists Jupyter's and IPython's own folders for this user:
// the data dir (kernelspecs: a kernel.json names a program to run), the
// runtime dir (connection files hold the key that signs messages), the
// config dir (jupyter_*_config.py runs as code), every JUPYTER_PATH entry,
// and IPython's profile dir (startup files run as code in native kernels).
// A sandbox must keep all of them out of the guest's reach even when the
// notebook folder holds them, as it does when Jupyter runs in the home
// folder. Entries are absolute; missing folders are listed too, since
// the guest must not create them either.
func PrivatePaths() []string {
	home, _ := os.UserHomeDir()
	data := UserDataDir()
	var out []string
	add := func(p string) {
		if p != "" && filepath.IsAbs(p) {
			out = append(out, filepath.Clean(p))
		}
	}
	add(data)
	if d := os.Getenv("JUPYTER_RUNTIME_DIR"); d != "" {
		add(d)
	} else {
		add(filepath.Join(data, "runtime"))
		if runtime.GOOS != "darwin" {
			if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
				add(filepath.Join(xdg, "jupyter"))
			}
		}
	}
	if d := os.Getenv("JUPYTER_CONFIG_DIR"); d != "" {
		add(d)
	} else if home != "" {
		add(filepath.Join(home, ".jupyter"))
	}
	for _, d := range filepath.SplitList(os.Getenv("JUPYTER_PATH")) {
		add(d)
	}
	if d := os.Getenv("IPYTHONDIR"); d != "" {
		add(d)
	} else if home != "" {
		add(filepath.Join(home, ".ipython"))
	}
	return out
}
