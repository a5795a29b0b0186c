package wasmbin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A tiny module: a type section, a custom ".debug_info" and a custom "name".
var tinyModule = append(append([]byte{}, Magic...),
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one func type () -> ()
	0x00, 0x0d, 0x0b, '.', 'd', 'e', 'b', 'u', 'g', '_', 'i', 'n', 'f', 'o', 0xAA, // custom .debug_info
	0x00, 0x06, 0x04, 'n', 'a', 'm', 'e', 0xBB, // custom name
)

func TestStripDebugSections(t *testing.T) {
	out, err := StripDebugSections(tinyModule)
	require.NoError(t, err)
	require.Equal(t, append(append(append([]byte{}, Magic...), 0x01, 0x04, 0x01, 0x60, 0x00, 0x00),
		0x00, 0x06, 0x04, 'n', 'a', 'm', 'e', 0xBB), out)
	debug, err := CustomSections(tinyModule, ".debug_")
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{".debug_info": {0xAA}}, debug)

	_, err = StripDebugSections([]byte("not wasm"))
	require.Error(t, err)
	_, err = StripDebugSections(append(append([]byte{}, Magic...), 0x01, 0x10, 0x00))
	require.ErrorContains(t, err, "truncated")
}
