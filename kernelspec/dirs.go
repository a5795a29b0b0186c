package kernelspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// UserDataDir returns the user's Jupyter data directory, as jupyter_core
// finds it: $JUPYTER_DATA_DIR when set; else ~/Library/Jupyter on macOS;
// else $XDG_DATA_HOME/jupyter, with XDG_DATA_HOME defaulting to
// ~/.local/share.
//
// When the home directory is unknown and needed, the result is relative;
// callers that need an absolute path should check it.
func UserDataDir() string {
	return userDataDir(os.Getenv, runtime.GOOS, os.UserHomeDir)
}

func userDataDir(getenv func(string) string, goos string, homeDir func() (string, error)) string {
	if d := getenv("JUPYTER_DATA_DIR"); d != "" {
		return d
	}
	home, err := homeDir()
	if err != nil {
		home = ""
	}
	if goos == "darwin" {
		return filepath.Join(home, "Library", "Jupyter")
	}
	xdg := getenv("XDG_DATA_HOME")
	if xdg == "" {
		xdg = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(xdg, "jupyter")
}

// PrefixDataDir returns the Jupyter data directory of an installation
// prefix (a virtual environment, a conda environment, /usr/local):
// PREFIX/share/jupyter.
func PrefixDataDir(prefix string) string {
	return filepath.Join(prefix, "share", "jupyter")
}

// ErrNoPython is returned by [SysPrefixDataDir] when no python3 is on PATH.
var ErrNoPython = errors.New("kernelspec: --sys-prefix needs python3 on PATH to find sys.prefix, and none was found")

// SysPrefixDataDir returns the Jupyter data directory of the Python
// environment of the python3 found on PATH: sys.prefix/share/jupyter.
// It is the directory `jupyter kernelspec install --sys-prefix` uses when
// jupyter runs on that python3.
func SysPrefixDataDir() (string, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", ErrNoPython
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.prefix)")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return "", fmt.Errorf("kernelspec: asking %s for sys.prefix: %w: %s", python, err, msg)
		}
		return "", fmt.Errorf("kernelspec: asking %s for sys.prefix: %w", python, err)
	}
	prefix := strings.TrimSpace(string(out))
	if prefix == "" || !filepath.IsAbs(prefix) {
		return "", fmt.Errorf("kernelspec: %s gave an unusable sys.prefix %q", python, prefix)
	}
	return PrefixDataDir(prefix), nil
}
