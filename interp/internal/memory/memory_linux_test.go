package memory

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Growing never moves the memory (the interrupter keeps writing to the
// addresses it had), never goes past the reservation, and Bytes is what
// the guest sees now.
func TestFixedGrowsInPlace(t *testing.T) {
	m := &Fixed{}
	require.Nil(t, m.Bytes(), "no memory before the guest has one")
	lm := m.Allocate(64<<10, 1<<30)
	defer lm.Free()
	first := lm.Reallocate(64 << 10)
	require.Len(t, first, 64<<10)
	first[100] = 42
	grown := lm.Reallocate(512 << 20)
	require.Len(t, grown, 512<<20)
	require.Equal(t, unsafe.Pointer(&first[0]), unsafe.Pointer(&grown[0]), "the memory moved")
	require.EqualValues(t, 42, grown[100])
	require.Len(t, m.Bytes(), 512<<20)
	require.Nil(t, lm.Reallocate(1<<30+1), "grew past the reservation")
}
