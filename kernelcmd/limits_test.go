package kernelcmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/kernelspec"
)

// `kernelspec --memory-limit/--max-output` puts the limits in kernel.json's
// argv, in a form the kernel's own flags accept.
func TestKernelspecPassesLimits(t *testing.T) {
	t.Setenv("WASIPY_DATA_DIR", "/data")
	code, stdout, stderr := ksRun(t, "--memory-limit", "512MiB", "--max-output", "1.5G", "--disk-quota", "500M,100")
	require.Equal(t, 0, code, stderr)
	var s kernelspec.Spec
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	argv := strings.Join(s.Argv[1:], " ")
	require.Equal(t, "--memory-limit 512M --max-output 1536M --disk-quota 500M,100 --site-dir /data/site/wasipy --connection-file {connection_file}", argv)

	// The kernel parses the same argv (it stops only for the missing
	// connection file, which Jupyter fills in).
	var errOut bytes.Buffer
	require.Equal(t, 2, run(s.Argv[1:len(s.Argv)-2], &errOut))
	require.Contains(t, errOut.String(), "--connection-file is required")

	code, stdout, _ = ksRun(t)
	require.Equal(t, 0, code)
	require.NotContains(t, stdout, "--memory-limit", "unset limits keep the kernel's defaults")
}

func TestLimitFlagsRejectBadSizes(t *testing.T) {
	for _, args := range [][]string{
		{"--memory-limit", "5G"},   // past wasm32
		{"--memory-limit", "16M"},  // too small to start
		{"--memory-limit", "lots"}, // not a size
		{"--max-output", "-1"},
		{"--disk-quota", "2G,many"},
		{"--disk-quota", "-5M"},
	} {
		code, _, stderr := ksRun(t, args...)
		require.Equal(t, 2, code, "kernelspec %q: %s", args, stderr)
		var errOut bytes.Buffer
		require.Equal(t, 2, run(append(args, "--connection-file", "/nonexistent"), &errOut), "kernel %q", args)
		require.Contains(t, errOut.String(), "flag "+strings.TrimPrefix(args[0], "-"))
	}
}

func TestKernelspecDisplayName(t *testing.T) {
	code, stdout, stderr := ksRun(t, "--display-name", "Python 3.12 (wasipy)")
	require.Equal(t, 0, code, stderr)
	var s kernelspec.Spec
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	require.Equal(t, "Python 3.12 (wasipy)", s.DisplayName)

	code, stdout, _ = ksRun(t)
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	require.Equal(t, kernelspec.DisplayName, s.DisplayName)

	code, _, _ = ksRun(t, "--display-name", "")
	require.Equal(t, 2, code)
}
