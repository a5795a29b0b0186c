package protocol

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goTool finds the go command that runs this test: on PATH, else in the
// GOROOT the test binary was built with.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	_, err := os.Stat(p)
	require.NoError(t, err, "the go command is needed to list the package's dependencies")
	return p
}

// The codec is pure: it frames, signs and validates bytes. Sockets and
// ZMTP live in protocol/zmtp, so a program that only encodes or decodes
// Jupyter messages (the kernel, a test, a proxy) links neither zmq4 nor
// the network stack through this package.
func TestCodecHasNoNetworkDependency(t *testing.T) {
	out, err := exec.Command(goTool(t), "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "encoding/json", "the listing names the package's dependencies")
	for _, d := range deps {
		if d == "net" || strings.HasPrefix(d, "github.com/go-zeromq/") {
			t.Errorf("protocol depends on %s; keep sockets and ZMTP in protocol/zmtp", d)
		}
	}
}
