package interrupt

import (
	"encoding/binary"
	"io"
	"sync"
)

// Relay applies interrupts in the worker. Each interrupt names the
// number of the host's last request frame sent before it; the interrupt
// acts once that many message frames have reached the guest's queue, so it
// never overtakes the request it is meant for (it travels on another
// pipe). It never waits: Act does not block, and a deferred interrupt is
// applied by the stdin relay as the frame arrives.
type Relay struct {
	// Act applies one interrupt; it must not block.
	Act func()

	mu      sync.Mutex
	count   uint64 // message frames handed to the guest's queue
	pending uint64 // an interrupt waiting for frame number pending
}

// Delivered counts one message frame handed to the guest's queue.
func (r *Relay) Delivered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if r.pending != 0 && r.count >= r.pending {
		r.pending = 0
		r.Act()
	}
}

// Interrupt applies an interrupt once after message frames were
// delivered (at once if they were).
func (r *Relay) Interrupt(after uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count >= after {
		r.Act()
	} else if after > r.pending {
		r.pending = after
	}
}

// Serve reads interrupts (8-byte big-endian frame numbers) until the
// kernel closes the pipe.
func (r *Relay) Serve(in io.Reader) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(in, b[:]); err != nil {
			return
		}
		r.Interrupt(binary.BigEndian.Uint64(b[:]))
	}
}
