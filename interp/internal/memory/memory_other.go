//go:build !linux

package memory

import "github.com/tetratelabs/wazero/experimental"

// Fixed is only implemented on Linux; elsewhere wazero's own
// allocator is used and running code cannot be interrupted from outside
// (sleeps, reads and a second interrupt still work).
type Fixed struct{}

func (m *Fixed) Allocate(capacity, max uint64) experimental.LinearMemory {
	panic("memory.Fixed is not used on this platform")
}

// Bytes is nil: there is no fixed memory here.
func (m *Fixed) Bytes() []byte { return nil }

// Available reports whether Fixed is implemented here.
const Available = false
