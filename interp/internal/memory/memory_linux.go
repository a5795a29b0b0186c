package memory

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Fixed is a linear memory that never moves: the whole maximum is
// reserved up front as virtual address space (MAP_NORESERVE: pages cost
// nothing until touched), and growing only extends the slice over it. So
// another goroutine (the interrupter) can write into it while the guest
// runs and grows it; and a 4 GiB guest memory never lives in the Go heap,
// where the collector would copy and scan it.
type Fixed struct {
	mu  sync.Mutex
	buf []byte // the whole reservation
	len uint64
}

func (m *Fixed) Allocate(capacity, max uint64) experimental.LinearMemory {
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// No address space to reserve: fall back to a memory that moves
		// when it grows (interrupts then reach only sleeps and reads).
		return &movingMemory{buf: make([]byte, capacity)}
	}
	m.mu.Lock()
	m.buf, m.len = buf, capacity
	m.mu.Unlock()
	return m
}

func (m *Fixed) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > uint64(len(m.buf)) {
		return nil
	}
	m.len = size
	return m.buf[:size:size]
}

func (m *Fixed) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// Bytes is the memory as the guest sees it now; nil before the guest
// has one.
func (m *Fixed) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buf == nil {
		return nil
	}
	return m.buf[:m.len]
}

// Available reports whether Fixed is implemented here.
const Available = true

type movingMemory struct{ buf []byte }

func (m *movingMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size, size+size/2)
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *movingMemory) Free() { m.buf = nil }
