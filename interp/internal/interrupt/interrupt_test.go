package interrupt

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// The 3.13 layout: the breaker word in the main thread's state carries the
// instrumentation version in its high bits; trip must OR the signal bit in
// and keep the version, and must survive a pointer the guest garbled.
func TestTripThreadBreakerKeepsVersion(t *testing.T) {
	mem := make([]byte, 1<<16)
	const tripped, isTripped, mainTstate, tstate, breakerOff = 0x100, 0x104, 0x200, 0x1000, 0x18
	binary.LittleEndian.PutUint32(mem[mainTstate:], tstate)
	const version = 7 << 8 // above _PY_EVAL_EVENTS_MASK
	binary.LittleEndian.PutUint32(mem[tstate+breakerOff:], version)
	in := &Interrupter{
		Targets: &Targets{Layout: LayoutThreadBreaker, Addrs: [4]uint32{tripped, isTripped},
			MainTstate: mainTstate, BreakerOffset: breakerOff},
		Mem: func() []byte { return mem },
	}
	in.Trip()
	require.EqualValues(t, 1, binary.LittleEndian.Uint32(mem[tripped:]))
	require.EqualValues(t, 1, binary.LittleEndian.Uint32(mem[isTripped:]))
	breaker := (*uint32)(unsafe.Pointer(&mem[tstate+breakerOff]))
	require.EqualValues(t, version|signalsPendingBit, atomic.LoadUint32(breaker))

	// The guest takes the signal: it clears the bit and then "tripped".
	// Until "tripped" clears, the bit is put back; after, it is not.
	atomic.StoreUint32(breaker, version)
	require.Eventually(t, func() bool { return atomic.LoadUint32(breaker) == version|signalsPendingBit },
		time.Second, time.Millisecond, "the breaker was not re-asserted")
	atomic.StoreInt32(in.word(mem, tripped), 0)
	time.Sleep(5 * time.Millisecond) // let the re-asserting goroutine see it
	atomic.StoreUint32(breaker, version)
	time.Sleep(20 * time.Millisecond)
	require.EqualValues(t, version, atomic.LoadUint32(breaker), "the breaker was set after the guest took the signal")

	// A pointer past the end of memory (or misaligned) is not followed.
	for _, bad := range []uint32{uint32(len(mem)) - 2, 0xfffffff0, tstate + 1} {
		atomic.StoreInt32(in.word(mem, mainTstate), int32(bad))
		require.NotPanics(t, in.Trip)
	}
}

// A tiny module: a type section, a broken custom ".debug_info" and a
// custom "name".
var tinyModule = append(append([]byte{}, wasmbin.Magic...),
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one func type () -> ()
	0x00, 0x0d, 0x0b, '.', 'd', 'e', 'b', 'u', 'g', '_', 'i', 'n', 'f', 'o', 0xAA, // custom .debug_info
	0x00, 0x06, 0x04, 'n', 'a', 'm', 'e', 0xBB, // custom name
)

func TestFindNeedsDWARF(t *testing.T) {
	_, err := Find(tinyModule)
	require.ErrorContains(t, err, "DWARF") // a broken .debug_info
	stripped, err := wasmbin.StripDebugSections(tinyModule)
	require.NoError(t, err)
	_, err = Find(stripped)
	require.ErrorContains(t, err, "no DWARF")
}

func TestInterruptWaitsForItsRequestOnly(t *testing.T) {
	acted := 0
	r := &Relay{Act: func() { acted++ }}
	r.Delivered() // frame 1
	// An interrupt for request frame 3 that overtook it on its own pipe.
	r.Interrupt(3)
	require.Zero(t, acted)
	r.Delivered()
	require.Zero(t, acted)
	r.Delivered()
	require.Equal(t, 1, acted, "applied once its request reached the guest")
	r.Delivered()
	require.Equal(t, 1, acted)
	// One for a request already delivered acts at once.
	r.Interrupt(2)
	require.Equal(t, 2, acted)
}
