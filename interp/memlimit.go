package interp

// Memory limits of the guest's linear memory.
const (
	wasmPageSize = 64 << 10
	// MaxMemoryLimit is all that a wasm32 guest can address: 65536 pages.
	MaxMemoryLimit = 4 << 30
	// MinMemoryLimit is the least memory the interpreter starts and runs a
	// cell in, with room to spare (CPython and the runtime use about 25 MiB
	// after start; python.wasm's initial memory is 10 MiB).
	MinMemoryLimit = 64 << 20
	// DefaultMemoryLimit is used when Config.MemoryLimit is 0. Half of
	// what wasm32 allows: a notebook that needs more is rare (the guest has
	// no NumPy), and a runaway cell on a laptop should hit MemoryError
	// before the host starts swapping.
	DefaultMemoryLimit = 2 << 30
)

// memoryLimitPages is the guest's memory cap in wasm pages for a configured
// limit in bytes: the default for 0, whole pages only, and never more than
// wasm32 can address.
func memoryLimitPages(limit uint64) uint32 {
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	if limit > MaxMemoryLimit {
		limit = MaxMemoryLimit
	}
	return uint32(limit / wasmPageSize)
}
