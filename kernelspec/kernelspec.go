// Package kernelspec describes wasipy to Jupyter: it builds the kernel.json
// of the kernel, writes it with the logos into a kernelspec directory, and
// installs that directory into one of Jupyter's data directories.
//
// A kernelspec is a directory named after the kernel (here "wasipy") that
// holds kernel.json and optional logo files. Jupyter looks for it under
// DATA/kernels/NAME for each of its data directories: the user's (see
// [UserDataDir]), an environment's PREFIX/share/jupyter (see
// [PrefixDataDir] and [SysPrefixDataDir]) and the system ones.
//
// Two ways to install, as `wasipy-kernel kernelspec` offers them:
//
//   - [WriteDir] writes a spec directory anywhere, for
//     `jupyter kernelspec install DIR` to copy into place;
//   - [Install] writes straight into a data directory, for machines
//     without the jupyter command.
//
// The logos are drawn by internal/logogen (PNG) and by hand (SVG) and
// embedded in the package.
package kernelspec

//go:generate go run ./internal/logogen -out .

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Name is the kernel name wasipy installs under by default.
const Name = "wasipy"

// DisplayName is the name Jupyter front ends show for the kernel: that of
// the default interpreter, the CPython 3.13 install.sh builds
// (install.sh --prebuilt names its npm 3.12 with --display-name).
const DisplayName = "Python 3.13 (wasipy)"

// KernelJSON is the name of the spec file inside a kernelspec directory.
const KernelJSON = "kernel.json"

// Logo file names, as Jupyter expects them in a kernelspec directory.
var logoFiles = []string{"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"}

//go:embed logo-32x32.png logo-64x64.png logo-svg.svg
var logos embed.FS

// Spec is the content of kernel.json.
type Spec struct {
	// Argv is the command line Jupyter runs; "{connection_file}" is
	// replaced by the path of the connection file.
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// New returns the spec of wasipy for the kernel binary at binary (made
// absolute if it is not), with extraArgs placed between the binary and
// "--connection-file {connection_file}".
//
// Interrupts are asked for as messages (interrupt_request on the control
// channel), since the kernel does not rely on signals.
func New(binary string, extraArgs []string) Spec {
	if abs, err := filepath.Abs(binary); err == nil {
		binary = abs
	}
	argv := make([]string, 0, len(extraArgs)+3)
	argv = append(argv, binary)
	argv = append(argv, extraArgs...)
	argv = append(argv, "--connection-file", "{connection_file}")
	return Spec{
		Argv:          argv,
		DisplayName:   DisplayName,
		Language:      "python",
		InterruptMode: "message",
		// JupyterLab offers its debugger for kernelspecs that say so, as
		// ipykernel's does; kernel_info_reply says it too.
		Metadata: map[string]any{"debugger": true},
	}
}

// Marshal returns s as indented JSON ending with a newline, as written
// to kernel.json.
func (s Spec) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// WriteDir writes kernel.json and the logos into dir, creating dir if
// needed and overwriting files of the same names.
func WriteDir(dir string, s Spec) error {
	data, err := s.Marshal()
	if err != nil {
		return fmt.Errorf("kernelspec: encoding %s: %w", KernelJSON, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("kernelspec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KernelJSON), data, 0o644); err != nil {
		return fmt.Errorf("kernelspec: %w", err)
	}
	for _, name := range logoFiles {
		logo, err := logos.ReadFile(name)
		if err != nil {
			return fmt.Errorf("kernelspec: embedded %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), logo, 0o644); err != nil {
			return fmt.Errorf("kernelspec: %w", err)
		}
	}
	return nil
}

// validName matches the kernel names jupyter_client accepts.
var validName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidName reports whether name can be used as a kernel name: letters,
// digits, '.', '_' and '-' only (which also keeps it a single path
// element).
func ValidName(name string) bool {
	return validName.MatchString(name) && name != "." && name != ".."
}

// Install writes the kernelspec s as dataDir/kernels/name and returns that
// directory. An existing kernelspec of the same name is replaced, so
// installing twice gives the same result. The new directory is written
// in full beside the old one before it takes its place, so a failure while
// writing leaves any old kernelspec as it was.
func Install(dataDir, name string, s Spec) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("kernelspec: invalid kernel name %q (use letters, digits, '.', '_' and '-')", name)
	}
	kernels := filepath.Join(dataDir, "kernels")
	if err := os.MkdirAll(kernels, 0o755); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	dest := filepath.Join(kernels, name)
	tmp, err := os.MkdirTemp(kernels, "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	if err := WriteDir(tmp, s); err != nil {
		return "", err
	}
	if err := os.RemoveAll(dest); err != nil {
		return "", fmt.Errorf("kernelspec: replacing %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return dest, nil
}
