package kernelspec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForEngine(t *testing.T) {
	base := New("/opt/wasipy/bin/wasipy-kernel", []string{"--memory-limit", "1G"})
	for _, engine := range EngineNames() {
		image := ""
		if engine == "gp-docker" || engine == "gp-kubernetes" || engine == "eg-docker" || engine == "eg-kubernetes" {
			image = "wasipy/kernel:1"
		}
		s, err := ForEngine(base, engine, image)
		require.NoError(t, err, engine)
		assert.Equal(t, "python", s.Language, "%s: picked by language", engine)
		assert.Equal(t, "message", s.InterruptMode, engine)
		if image != "" {
			_, err := ForEngine(base, engine, "")
			assert.Error(t, err, "%s without an image", engine)
		}
	}
	assert.Equal(t, map[string]any{"debugger": true}, base.Metadata, "the base spec is not changed")

	p, _ := ForEngine(base, "provisioner", "")
	assert.Equal(t, base.Argv, p.Argv, "the provisioner keeps the connection-file argv, so the spec works without it")
	assert.Equal(t, "wasipy-provisioner", p.Metadata["kernel_provisioner"].(map[string]any)["provisioner_name"])

	d, _ := ForEngine(base, "gp-distributed", "")
	assert.Equal(t, []string{"/opt/wasipy/bin/wasipy-kernel", "launch", "--memory-limit", "1G",
		"--kernel-id", "{kernel_id}", "--port-range", "{port_range}", "--response-address", "{response_address}", "--public-key", "{public_key}"}, d.Argv)

	e, _ := ForEngine(base, "eg-kubernetes", "wasipy/kernel:1")
	assert.Contains(t, e.Argv, "--RemoteProcessProxy.kernel-id")
	assert.Equal(t, "{resource_dir}/scripts/launch_kubernetes.py", e.Argv[1])
	pp := e.Metadata["process_proxy"].(map[string]any)
	assert.Equal(t, "wasipy/kernel:1", pp["config"].(map[string]any)["image_name"])

	_, err := ForEngine(base, "yarn", "")
	assert.Error(t, err)
	_, err = ForEngine(base, "local", "img")
	assert.Error(t, err, "an image for an engine that runs none is a mistake")
}
