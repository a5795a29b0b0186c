package interp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUTF8StreamKeepsSplitCharacters(t *testing.T) {
	var u utf8Stream
	text := "añ€😀z"
	b := []byte(text)
	var out string
	for i := range b { // one byte at a time: every character is split
		out += u.decode(b[i : i+1])
	}
	out += u.flush()
	require.Equal(t, text, out)

	u = utf8Stream{}
	require.Equal(t, "a\uFFFDb", u.decode([]byte{'a', 0xff, 'b'}))
	require.Equal(t, "", u.decode([]byte{0xe2, 0x82})) // held back
	require.Equal(t, "\uFFFD", u.flush())              // never completed
}
