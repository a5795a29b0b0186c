package kernelcmd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	good := map[string]uint64{
		"0":      0,
		"65536":  65536,
		"512M":   512 << 20,
		"512m":   512 << 20,
		"512MB":  512 << 20,
		"512MiB": 512 << 20,
		"512mib": 512 << 20,
		"512Mi":  512 << 20,
		"2G":     2 << 30,
		"2GiB":   2 << 30,
		" 4G ":   4 << 30,
		"1.5G":   3 << 29,
		"100K":   100 << 10,
		"100KB":  100 << 10,
		"1T":     1 << 40,
		"10B":    10,
		"0.5K":   512,
	}
	for in, want := range good {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", " ", "M", "GiB", "-1", "-1G", "1e9", "0x10", "1_000", "5i", "5iB", "2X", "2GG", "inf", "NaN", "1.5.3M", "+1G", "99999999999999999999", "20000000000T", "1e400"} {
		_, err := parseSize(in)
		require.Error(t, err, "%q", in)
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for _, n := range []uint64{0, 1, 1000, 1 << 10, 3 << 20, 2 << 30, 4 << 30, 1<<30 + 1, 1 << 40} {
		got, err := parseSize(formatSize(n))
		require.NoError(t, err)
		require.Equal(t, n, got, formatSize(n))
	}
	require.Equal(t, "2G", formatSize(2<<30))
	require.Equal(t, "1536M", formatSize(1536<<20))
}

func TestSizeFlagBounds(t *testing.T) {
	f := &sizeFlag{n: 2 << 30, min: 64 << 20, max: 4 << 30}
	require.Equal(t, "2G", f.String())
	require.Error(t, f.Set("5G"))
	require.Error(t, f.Set("1M"))
	require.Error(t, f.Set("lots"))
	require.False(t, f.set)
	require.Equal(t, uint64(2<<30), f.n, "a rejected value leaves the default")
	require.NoError(t, f.Set("4GiB"))
	require.True(t, f.set)
	require.Equal(t, uint64(4<<30), f.n)
}
