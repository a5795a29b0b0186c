//go:build !linux

package interp

import "github.com/tetratelabs/wazero/experimental"

// fixedMemory is only implemented on Linux; elsewhere wazero's own
// allocator is used and running code cannot be interrupted from outside
// (sleeps, reads and a second interrupt still work).
type fixedMemory struct{}

func (m *fixedMemory) Allocate(capacity, max uint64) experimental.LinearMemory {
	panic("fixedMemory is not used on this platform")
}
func (m *fixedMemory) bytes() []byte { return nil }

const haveFixedMemory = false
