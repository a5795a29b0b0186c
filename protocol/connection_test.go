package protocol

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kernel.json")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadConnectionFileTCP(t *testing.T) {
	p := writeFile(t, `{
  "shell_port": 53794, "iopub_port": 53795, "stdin_port": 53796,
  "control_port": 53797, "hb_port": 53798, "ip": "127.0.0.1",
  "key": "a0436f6c-1916-498b-8eb9-e81ab9368e84", "transport": "tcp",
  "signature_scheme": "hmac-sha256", "kernel_name": "wasipy"
}`)
	info, err := LoadConnectionFile(p)
	require.NoError(t, err)
	assert.Equal(t, &ConnectionInfo{
		Transport: "tcp", IP: "127.0.0.1",
		ShellPort: 53794, IOPubPort: 53795, StdinPort: 53796, ControlPort: 53797, HBPort: 53798,
		Key: testKey, SignatureScheme: "hmac-sha256", KernelName: "wasipy",
	}, info)
	assert.Equal(t, "tcp://127.0.0.1:53794", info.Endpoint(info.ShellPort))

	v6 := *info
	v6.IP = "::1"
	assert.Equal(t, "tcp://[::1]:53794", v6.Endpoint(53794))
}

func TestLoadConnectionFileDefaults(t *testing.T) {
	p := writeFile(t, `{"shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"ip":"*","key":""}`)
	info, err := LoadConnectionFile(p)
	require.NoError(t, err)
	assert.Equal(t, "tcp", info.Transport)
	assert.Equal(t, SchemeHMACSHA256, info.SignatureScheme)
	assert.Equal(t, "tcp://*:1", info.Endpoint(1))
}

func TestLoadConnectionFileIPC(t *testing.T) {
	p := writeFile(t, `{"transport":"ipc","ip":"/tmp/kernel-abc","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k","signature_scheme":"hmac-sha256"}`)
	info, err := LoadConnectionFile(p)
	require.NoError(t, err)
	assert.Equal(t, "ipc:///tmp/kernel-abc-1", info.Endpoint(info.ShellPort))
	assert.Equal(t, "ipc:///tmp/kernel-abc-5", info.Endpoint(info.HBPort))
}

func TestLoadConnectionFileErrors(t *testing.T) {
	ports := `"shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5`
	cases := map[string]struct{ content, want string }{
		"bad transport": {`{"transport":"udp","ip":"127.0.0.1",` + ports + `}`, `unsupported transport "udp"`},
		"bad scheme":    {`{"ip":"127.0.0.1","key":"k","signature_scheme":"hmac-sha1",` + ports + `}`, `unsupported signature scheme "hmac-sha1"`},
		"not json":      {`{"ip":`, "unexpected end of JSON"},
		"port string":   {`{"ip":"127.0.0.1","shell_port":"1"}`, "cannot unmarshal"},
		"missing ip":    {`{` + ports + `}`, "missing ip"},
		"bad ip":        {`{"ip":"1.2.3.4/8",` + ports + `}`, "invalid ip"},
		"zero port":     {`{"ip":"127.0.0.1","shell_port":0,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5}`, "shell_port 0 out of range"},
		"big port":      {`{"ip":"127.0.0.1","shell_port":70000,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5}`, "out of range"},
		"dup port":      {`{"ip":"127.0.0.1","shell_port":2,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5}`, "are both 2"},
		"ipc no path":   {`{"transport":"ipc",` + ports + `}`, "missing ip"},
		"ipc zero":      {`{"transport":"ipc","ip":"/tmp/k","shell_port":0,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5}`, "positive ipc suffix"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConnectionFile(writeFile(t, tc.content))
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err := LoadConnectionFile(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestValidate(t *testing.T) {
	info := &ConnectionInfo{IP: "127.0.0.1"}
	assert.NoError(t, info.Validate(), "port 0 means any free port for Listen")
	assert.Equal(t, "", info.Transport, "Validate does not change the info")
	assert.Error(t, (&ConnectionInfo{IP: "127.0.0.1", ShellPort: -1}).Validate())
	assert.Error(t, (&ConnectionInfo{Transport: "ipc", IP: "/tmp/x"}).Validate())
	for _, ip := range []string{"::1", "127.0.0.1", "::ffff:10.0.0.1", "localhost", "*"} {
		assert.NoError(t, (&ConnectionInfo{IP: ip}).Validate(), ip)
	}
	for _, ip := range []string{"fe80::1%eth0", "1.2.3.4:80", "[::1]", "a b", "1.2.3.4/8"} {
		assert.Error(t, (&ConnectionInfo{IP: ip}).Validate(), ip)
	}
	info = &ConnectionInfo{IP: "127.0.0.1", Key: "k"}
	require.NoError(t, info.Normalize())
	assert.Equal(t, "tcp", info.Transport, "Normalize fills the transport")
	assert.Equal(t, SchemeHMACSHA256, info.SignatureScheme, "and the scheme")
}
