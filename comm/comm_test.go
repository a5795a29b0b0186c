package comm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegistryInfo(t *testing.T) {
	var r Registry
	require.Empty(t, r.Info(""))
	r.Open(Comm{ID: "a", TargetName: "jupyter.widget"})
	r.Open(Comm{ID: "b", TargetName: "other"})
	require.Len(t, r.Info(""), 2)
	require.Equal(t, map[string]TargetInfo{"a": {TargetName: "jupyter.widget"}}, r.Info("jupyter.widget"))
	require.True(t, r.Close("a"))
	require.False(t, r.Close("a"))
	r.Reset()
	require.Empty(t, r.Info(""))
}
